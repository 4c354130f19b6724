<?php
/**
 * The settings page (Settings → Sovgate): gateway URL, site key (write-only), CA bundle,
 * enforce/monitor, AI hosts, the chat settings, a connection test, the interception
 * status and the recent events.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Admin screens.
 */
final class Sovgate_Admin {

	const PAGE = 'sovgate';

	const GROUP = 'sovgate';

	/**
	 * The settings that decide where AI calls go and what is intercepted: on a multisite
	 * network only a network administrator (manage_network_options) changes them.
	 *
	 * @var string[]
	 */
	const NETWORK_FIELDS = array( 'gateway_url', 'api_key', 'ca_bundle', 'mode', 'hosts' );

	/**
	 * The settings submitted as text (a number for the visitor limit).
	 *
	 * @var string[]
	 */
	const TEXT_FIELDS = array( 'gateway_url', 'api_key', 'ca_bundle', 'chat_model', 'chat_rate_limit' );

	/**
	 * The last value sanitize() returned, with what it was made from: the stored option
	 * and which settings were locked (see sanitize()).
	 *
	 * @var array|null
	 */
	private static $sanitized = null;

	/**
	 * Adds the hooks.
	 */
	public static function register() {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_init', array( __CLASS__, 'settings' ) );
		add_action( 'admin_post_sovgate_test', array( __CLASS__, 'test_connection' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( SOVGATE_FILE ), array( __CLASS__, 'action_links' ) );
	}

	/**
	 * The page under Settings.
	 */
	public static function menu() {
		add_options_page(
			__( 'Sovgate AI gateway', 'sovgate' ),
			__( 'Sovgate', 'sovgate' ),
			'manage_options',
			self::PAGE,
			array( __CLASS__, 'render' )
		);
	}

	/**
	 * A "Settings" link in the plugin list.
	 *
	 * @param string[] $links Links.
	 * @return string[]
	 */
	public static function action_links( $links ) {
		$links[] = '<a href="' . esc_url( admin_url( 'options-general.php?page=' . self::PAGE ) ) . '">' . esc_html__( 'Settings', 'sovgate' ) . '</a>';
		return $links;
	}

	/**
	 * Settings API registration.
	 */
	public static function settings() {
		register_setting(
			self::GROUP,
			Sovgate_Settings::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize' ),
				'show_in_rest'      => false,
				'default'           => array(),
			)
		);
		add_settings_section( 'sovgate_gateway', __( 'Gateway', 'sovgate' ), array( __CLASS__, 'section_gateway' ), self::PAGE );
		add_settings_section( 'sovgate_chat', __( 'Product chat', 'sovgate' ), array( __CLASS__, 'section_chat' ), self::PAGE );
		foreach ( self::labels() as $name => $label ) {
			add_settings_field(
				'sovgate_' . $name,
				$label,
				array( __CLASS__, 'field_' . $name ),
				self::PAGE,
				0 === strpos( $name, 'chat_' ) ? 'sovgate_chat' : 'sovgate_gateway',
				array( 'label_for' => 'sovgate_' . $name )
			);
		}
	}

	/**
	 * The settings' labels on the page (and in messages), in the page's order.
	 *
	 * @return array<string, string>
	 */
	private static function labels() {
		return array(
			'gateway_url'     => __( 'Gateway URL', 'sovgate' ),
			'api_key'         => __( 'Site key', 'sovgate' ),
			'ca_bundle'       => __( 'CA bundle', 'sovgate' ),
			'mode'            => __( 'Mode', 'sovgate' ),
			'hosts'           => __( 'AI hosts', 'sovgate' ),
			'chat_model'      => __( 'Chat model', 'sovgate' ),
			'chat_public'     => __( 'Visitors', 'sovgate' ),
			'chat_rate_limit' => __( 'Visitor limit', 'sovgate' ),
		);
	}

	/**
	 * Validates the submitted settings; what is invalid keeps its saved value and is
	 * reported. The key is replaced only when a new one is typed (or removed on request).
	 * A submitted host list is stored with the defaults the page showed (hosts_defaults_seen,
	 * a hidden field; missing: none), so that defaults a later version adds are added to it
	 * and those the admin removed stay removed (Sovgate_Hosts::effective()). A site that
	 * never saved a list keeps none, and follows the defaults. A host list over the limits
	 * or of the wrong type (Sovgate_Hosts::list_problem()) is refused as a whole: the saved
	 * list and its record stay as they were. A submitted mode other than enforce or monitor
	 * saves enforce (fail closed), with an error naming it.
	 *
	 * Idempotent: WordPress runs this callback a second time on its own result when the
	 * option does not exist yet (update_option() hands the value to add_option(), which
	 * sanitizes it again: a site's first save). That result is returned as it is, without
	 * a second round of checks and messages, as long as the stored option and the settings
	 * locked for the current user are still those it was made from; any other value (also
	 * the same one posted for another user or after the stored option changed) is checked.
	 *
	 * @param mixed $input The submitted values.
	 * @return array
	 */
	public static function sanitize( $input ) {
		$saved = get_option( Sovgate_Settings::OPTION, array() );
		$locks = array_map( array( __CLASS__, 'locked' ), self::NETWORK_FIELDS );
		if ( null !== self::$sanitized && array( $saved, $locks, $input ) === self::$sanitized ) {
			return $input;
		}
		$out             = self::check( $input, is_array( $saved ) ? $saved : array() );
		self::$sanitized = array( $saved, $locks, $out );
		return $out;
	}

	/**
	 * The checks of sanitize().
	 *
	 * @param mixed $input The submitted values.
	 * @param array $saved The stored option.
	 * @return array
	 */
	private static function check( $input, array $saved ) {
		$out = array_merge( Sovgate_Settings::defaults(), $saved );
		if ( ! array_key_exists( 'hosts', $saved ) ) {
			unset( $out['hosts'] );
		}
		if ( ! is_array( $input ) ) {
			return $out;
		}
		// Locked settings keep their value (their fields are not even sent by the page).
		foreach ( self::NETWORK_FIELDS as $name ) {
			if ( ! self::locked( $name ) ) {
				continue;
			}
			$key   = $input['api_key'] ?? '';
			$asked = 'api_key' === $name
				? ! empty( $input['clear_key'] ) || ! is_scalar( $key ) || '' !== trim( (string) $key )
				: isset( $input[ $name ] );
			if ( $asked ) {
				self::error( $name, self::locked_reason( $name ) );
			}
			unset( $input[ $name ] );
			if ( 'api_key' === $name ) {
				unset( $input['clear_key'] );
			}
			if ( 'hosts' === $name ) {
				unset( $input['hosts_defaults_seen'] );
			}
		}
		// Text where text is expected: an array or object is refused (the saved value kept).
		foreach ( self::TEXT_FIELDS as $name ) {
			if ( isset( $input[ $name ] ) && ! is_scalar( $input[ $name ] ) ) {
				/* translators: %s: the setting's label, such as "Gateway URL". */
				self::error( $name, sprintf( __( '%s: must be text; the saved value was kept.', 'sovgate' ), self::labels()[ $name ] ) );
				unset( $input[ $name ] );
			}
		}
		if ( isset( $input['hosts'] ) ) {
			self::check_hosts( $input['hosts'], $input['hosts_defaults_seen'] ?? null, $out );
		}
		if ( isset( $input['gateway_url'] ) ) {
			$url = trim( sanitize_text_field( (string) $input['gateway_url'] ) );
			if ( '' === $url ) {
				$out['gateway_url'] = '';
			} else {
				$hosts   = Sovgate_Settings::is_constant( 'hosts' )
					? Sovgate_Settings::get( 'hosts' )
					: Sovgate_Hosts::effective( $out['hosts'] ?? null, $out['hosts_defaults_seen'] ?? null );
				$problem = Sovgate_Settings::gateway_url_problem( Sovgate_Mapper::gateway_base( $url ), $hosts );
				if ( '' === $problem ) {
					$out['gateway_url'] = $url;
				} else {
					self::error( 'gateway_url', $problem );
				}
			}
		}
		if ( ! empty( $input['clear_key'] ) ) {
			$out['api_key'] = '';
		} elseif ( isset( $input['api_key'] ) && '' !== trim( (string) $input['api_key'] ) ) {
			$key = trim( (string) $input['api_key'] );
			if ( preg_match( '/^[\x21-\x7e]{8,512}$/', $key ) ) {
				$out['api_key'] = $key;
			} else {
				self::error( 'api_key', __( 'The site key must be 8 to 512 printable characters without spaces; the stored key was kept.', 'sovgate' ) );
			}
		}
		if ( isset( $input['ca_bundle'] ) ) {
			$ca = trim( sanitize_text_field( (string) $input['ca_bundle'] ) );
			if ( '' === $ca || is_readable( $ca ) ) {
				$out['ca_bundle'] = $ca;
			} else {
				self::error( 'ca_bundle', __( 'The CA bundle file cannot be read by WordPress; the previous value was kept.', 'sovgate' ) );
			}
		}
		if ( isset( $input['mode'] ) ) {
			if ( in_array( $input['mode'], Sovgate_Settings::MODES, true ) ) {
				$out['mode'] = $input['mode'];
			} else {
				// Fail closed, as for a stored mode that is no mode (Sovgate_Settings::all()).
				$out['mode'] = 'enforce';
				/* translators: %s: the submitted value, such as "monitr". */
				self::error( 'mode', sprintf( __( 'Mode: %s is not a mode (enforce or monitor); enforce was saved, so AI calls that cannot go through the gateway are blocked.', 'sovgate' ), Sovgate_Settings::describe_value( $input['mode'] ) ) );
			}
		}
		if ( isset( $input['chat_model'] ) ) {
			$model = trim( (string) $input['chat_model'] );
			if ( preg_match( '#^[A-Za-z0-9._:/@+-]{1,128}$#', $model ) ) {
				$out['chat_model'] = $model;
			} else {
				self::error( 'chat_model', __( 'The chat model must be a model name or alias of the gateway.', 'sovgate' ) );
			}
		}
		if ( isset( $input['chat_rate_limit'] ) ) {
			$out['chat_rate_limit'] = max( 1, min( 10000, absint( $input['chat_rate_limit'] ) ) );
		}
		// A checkbox is absent when unticked; the form always sends this marker.
		if ( isset( $input['chat_form'] ) ) {
			$out['chat_public'] = ! empty( $input['chat_public'] );
		}
		unset( $out['clear_key'], $out['chat_form'] );
		return $out;
	}

	/**
	 * Checks a submitted host list into $out: a list of the wrong type or over the limits
	 * is refused with an error (the saved list and its record stay); otherwise its host
	 * names are stored, with the defaults the page showed, and the entries that are no host
	 * names are left out and named in an error.
	 *
	 * @param mixed $hosts The submitted list (text, or an array of strings).
	 * @param mixed $seen  The submitted hosts_defaults_seen.
	 * @param array $out   The settings to store.
	 */
	private static function check_hosts( $hosts, $seen, array &$out ) {
		$count  = 0;
		$reason = Sovgate_Hosts::list_problem( $hosts, $count );
		if ( '' !== $reason ) {
			self::error(
				'hosts',
				sprintf(
					/* translators: 1: what is wrong with the list, 2: the limits. */
					__( 'The AI host list was not saved: it %1$s. The saved list was kept. Enter one host per line, %2$s; a wildcard such as *.example.com covers many hosts.', 'sovgate' ),
					Sovgate_Settings::hosts_limit_reason( $reason, $count ),
					Sovgate_Settings::hosts_limits()
				)
			);
			return;
		}
		$invalid = array();
		$list    = Sovgate_Hosts::parse_list( $hosts, $invalid );
		if ( $invalid ) {
			self::error(
				'hosts',
				/* translators: %s: the refused entries. */
				sprintf( __( 'These AI host entries are not host names or wildcards (*.domain, *-name.domain, name.*.domain) and were left out: %s', 'sovgate' ), self::entries( $invalid ) )
			);
		}
		if ( ! $list ) {
			self::error( 'hosts', __( 'The AI host list is empty: no AI call is intercepted.', 'sovgate' ), 'warning' );
		}
		$out['hosts']               = $list;
		$out['hosts_defaults_seen'] = Sovgate_Hosts::defaults_in( $seen );
	}

	/**
	 * Refused entries for a message: each once, printable (control and format characters,
	 * and the bytes of text that is not UTF-8, shown as `?`), cut to 64 characters, at most
	 * ten (then how many more). error() escapes the message.
	 *
	 * @param string[] $entries Entries.
	 * @return string
	 */
	private static function entries( array $entries ) {
		$entries = array_values( array_unique( $entries ) );
		$shown   = array();
		foreach ( array_slice( $entries, 0, 10 ) as $entry ) {
			if ( ! preg_match( '//u', $entry ) ) {
				$entry = preg_replace( '/[^\x00-\x7f]/', '?', $entry );
			}
			$entry   = preg_replace( '/\p{C}/u', '?', $entry );
			$cut     = preg_match( '/^.{65}/us', $entry ) ? '...' : '';
			$shown[] = preg_replace( '/^(.{0,64}).*$/us', '$1', $entry ) . $cut;
		}
		$list = implode( ', ', $shown );
		if ( count( $entries ) > count( $shown ) ) {
			/* translators: 1: entries, 2: how many more there are. */
			$list = sprintf( __( '%1$s and %2$d more', 'sovgate' ), $list, count( $entries ) - count( $shown ) );
		}
		return $list;
	}

	/**
	 * Reports a settings error. WordPress prints the message as HTML: it is escaped here,
	 * since some name what was submitted.
	 *
	 * @param string $field   Field name.
	 * @param string $message Message (text).
	 * @param string $type    `error` or `warning`.
	 */
	private static function error( $field, $message, $type = 'error' ) {
		add_settings_error( Sovgate_Settings::OPTION, 'sovgate_' . $field, esc_html( $message ), $type );
	}

	/**
	 * Whether the current user cannot change a setting here: fixed by a constant in
	 * wp-config.php; the gateway URL while SOVGATE_KEY is (whoever could point it
	 * elsewhere would receive the key); on a multisite network, the NETWORK_FIELDS for
	 * anyone but a network administrator.
	 *
	 * @param string $name Setting.
	 * @return bool
	 */
	public static function locked( $name ) {
		if ( Sovgate_Settings::is_constant( $name ) ) {
			return true;
		}
		if ( 'gateway_url' === $name && Sovgate_Settings::is_constant( 'api_key' ) ) {
			return true;
		}
		return in_array( $name, self::NETWORK_FIELDS, true ) && is_multisite() && ! current_user_can( 'manage_network_options' );
	}

	/**
	 * Why a setting is locked (for the page and the settings error).
	 *
	 * @param string $name A locked setting.
	 * @return string
	 */
	private static function locked_reason( $name ) {
		if ( Sovgate_Settings::is_constant( $name ) ) {
			/* translators: %s: constant name. */
			return sprintf( __( 'Set by %s in wp-config.php.', 'sovgate' ), Sovgate_Settings::CONSTANTS[ $name ] );
		}
		if ( 'gateway_url' === $name && Sovgate_Settings::is_constant( 'api_key' ) ) {
			return __( 'Fixed because SOVGATE_KEY is set in wp-config.php (the key goes only to this gateway): set SOVGATE_GATEWAY_URL there to change it.', 'sovgate' );
		}
		return __( 'Only a network administrator can change this setting.', 'sovgate' );
	}

	/**
	 * The gateway section's introduction.
	 */
	public static function section_gateway() {
		echo '<p>' . esc_html__( 'Every AI call that plugins and themes make through WordPress to the hosts below is sent to your Sovgate gateway instead, with the site key in place of the provider\'s key.', 'sovgate' ) . '</p>';
	}

	/**
	 * The chat section's introduction.
	 */
	public static function section_chat() {
		echo '<p>' . esc_html__( 'The product question chat ([sovgate_chat] shortcode or the "Sovgate product chat" block) asks the gateway through this site, so browsers never hold a key.', 'sovgate' ) . '</p>';
	}

	/**
	 * The name of a setting's form field.
	 *
	 * @param string $name Setting.
	 * @return string
	 */
	private static function name( $name ) {
		return Sovgate_Settings::OPTION . '[' . $name . ']';
	}

	/**
	 * A note when the current user cannot change a setting (see locked()).
	 *
	 * @param string $name Setting.
	 * @return bool Whether it is locked.
	 */
	private static function constant_note( $name ) {
		if ( ! self::locked( $name ) ) {
			return false;
		}
		echo '<p class="description">' . esc_html( self::locked_reason( $name ) ) . '</p>';
		return true;
	}

	/**
	 * Gateway URL field.
	 */
	public static function field_gateway_url() {
		$fixed = self::locked( 'gateway_url' );
		printf(
			'<input type="url" class="regular-text code" id="sovgate_gateway_url" name="%1$s" value="%2$s" placeholder="https://gateway.shop.internal:8443" %3$s />',
			esc_attr( self::name( 'gateway_url' ) ),
			esc_attr( (string) Sovgate_Settings::get( 'gateway_url' ) ),
			disabled( $fixed, true, false )
		);
		if ( ! self::constant_note( 'gateway_url' ) ) {
			echo '<p class="description">' . esc_html__( 'The gateway\'s address (its OpenAI base URL; a trailing /v1 is fine).', 'sovgate' ) . '</p>';
		}
	}

	/**
	 * Site key field: write-only, never filled in.
	 */
	public static function field_api_key() {
		$fixed  = self::locked( 'api_key' );
		$stored = '' !== (string) Sovgate_Settings::get( 'api_key' );
		printf(
			'<input type="password" class="regular-text code" id="sovgate_api_key" name="%1$s" value="" autocomplete="new-password" spellcheck="false" placeholder="%2$s" %3$s />',
			esc_attr( self::name( 'api_key' ) ),
			esc_attr( $stored ? __( 'A key is stored (hidden)', 'sovgate' ) : __( 'sg-…', 'sovgate' ) ),
			disabled( $fixed, true, false )
		);
		if ( self::constant_note( 'api_key' ) ) {
			return;
		}
		echo '<p class="description" id="sovgate_api_key_status">';
		echo $stored
			? esc_html__( 'A key is stored. It is never shown; type a new one to replace it, or leave the field empty to keep it.', 'sovgate' )
			: esc_html__( 'No key is stored. Create one with: sovgate keys create --name wordpress', 'sovgate' );
		echo '</p>';
		if ( $stored ) {
			printf(
				'<label><input type="checkbox" name="%1$s" value="1" /> %2$s</label>',
				esc_attr( self::name( 'clear_key' ) ),
				esc_html__( 'Remove the stored key', 'sovgate' )
			);
		}
	}

	/**
	 * CA bundle field.
	 */
	public static function field_ca_bundle() {
		printf(
			'<input type="text" class="regular-text code" id="sovgate_ca_bundle" name="%1$s" value="%2$s" placeholder="/etc/sovgate/tls/ca.pem" %3$s />',
			esc_attr( self::name( 'ca_bundle' ) ),
			esc_attr( (string) Sovgate_Settings::get( 'ca_bundle' ) ),
			disabled( self::locked( 'ca_bundle' ), true, false )
		);
		if ( ! self::constant_note( 'ca_bundle' ) ) {
			echo '<p class="description">' . esc_html__( 'A PEM file with the CA that signed the gateway\'s certificate (empty: the system\'s trusted CAs, e.g. /etc/ssl/certs/ca-certificates.crt).', 'sovgate' ) . '</p>';
		}
	}

	/**
	 * Mode field.
	 */
	public static function field_mode() {
		$mode  = Sovgate_Settings::get( 'mode' );
		$fixed = self::locked( 'mode' );
		$modes = array(
			'enforce' => __( 'Enforce: AI calls that cannot go through the gateway are blocked', 'sovgate' ),
			'monitor' => __( 'Monitor: such calls go to the provider and are reported here', 'sovgate' ),
		);
		echo '<fieldset id="sovgate_mode">';
		foreach ( $modes as $value => $label ) {
			printf(
				'<label><input type="radio" name="%1$s" value="%2$s" %3$s %4$s /> %5$s</label><br />',
				esc_attr( self::name( 'mode' ) ),
				esc_attr( $value ),
				checked( $mode, $value, false ),
				disabled( $fixed, true, false ),
				esc_html( $label )
			);
		}
		echo '</fieldset>';
		self::constant_note( 'mode' );
	}

	/**
	 * AI hosts field: the list in effect, and (hidden) the defaults it is shown with.
	 */
	public static function field_hosts() {
		printf(
			'<textarea class="large-text code" rows="8" id="sovgate_hosts" name="%1$s" %3$s>%2$s</textarea>',
			esc_attr( self::name( 'hosts' ) ),
			esc_textarea( implode( "\n", (array) Sovgate_Settings::get( 'hosts' ) ) ),
			disabled( self::locked( 'hosts' ), true, false )
		);
		if ( ! self::locked( 'hosts' ) ) {
			printf(
				'<input type="hidden" name="%1$s" value="%2$s" />',
				esc_attr( self::name( 'hosts_defaults_seen' ) ),
				esc_attr( implode( ',', Sovgate_Hosts::DEFAULTS ) )
			);
		}
		self::constant_note( 'hosts' );
		echo '<p class="description">';
		/* translators: %s: the default host list. */
		echo esc_html( sprintf( __( 'One host per line; *.domain matches every host below domain, *-name.domain every host ending in -name.domain, name.*.domain every host with one label in place of the *. Defaults: %s', 'sovgate' ), implode( ', ', Sovgate_Hosts::DEFAULTS ) ) );
		echo ' ';
		/* translators: 1: most entries, 2: most bytes in an entry. */
		echo esc_html( sprintf( __( 'At most %1$d entries of at most %2$d bytes each; a longer list is not saved.', 'sovgate' ), Sovgate_Hosts::MAX_HOSTS, Sovgate_Hosts::MAX_LENGTH ) );
		echo '</p>';
	}

	/**
	 * Chat model field.
	 */
	public static function field_chat_model() {
		printf(
			'<input type="text" class="regular-text code" id="sovgate_chat_model" name="%1$s" value="%2$s" />',
			esc_attr( self::name( 'chat_model' ) ),
			esc_attr( (string) Sovgate_Settings::get( 'chat_model' ) )
		);
		echo '<p class="description">' . esc_html__( 'A model name or alias routed by the gateway.', 'sovgate' ) . '</p>';
	}

	/**
	 * Chat visitors field.
	 */
	public static function field_chat_public() {
		printf( '<input type="hidden" name="%s" value="1" />', esc_attr( self::name( 'chat_form' ) ) );
		printf(
			'<label><input type="checkbox" id="sovgate_chat_public" name="%1$s" value="1" %2$s /> %3$s</label>',
			esc_attr( self::name( 'chat_public' ) ),
			checked( (bool) Sovgate_Settings::get( 'chat_public' ), true, false ),
			esc_html__( 'Visitors who are not logged in may use the chat (rate limited per address)', 'sovgate' )
		);
	}

	/**
	 * Chat rate limit field.
	 */
	public static function field_chat_rate_limit() {
		printf(
			'<input type="number" class="small-text" min="1" max="10000" id="sovgate_chat_rate_limit" name="%1$s" value="%2$d" /> %3$s',
			esc_attr( self::name( 'chat_rate_limit' ) ),
			(int) Sovgate_Settings::get( 'chat_rate_limit' ),
			esc_html__( 'questions per visitor address in 10 minutes', 'sovgate' )
		);
	}

	/**
	 * Runs the connection test (admin-post.php) and goes back to the page.
	 */
	public static function test_connection() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to do that.', 'sovgate' ), 403 );
		}
		check_admin_referer( 'sovgate_test' );
		set_transient( 'sovgate_test_' . get_current_user_id(), Sovgate_Client::diagnose( true ), 300 );
		wp_safe_redirect( admin_url( 'options-general.php?page=' . self::PAGE . '&sovgate-tested=1' ) );
		exit;
	}

	/**
	 * The page.
	 */
	public static function render() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$status = Sovgate_Client::status();
		echo '<div class="wrap" id="sovgate-settings">';
		echo '<h1>' . esc_html__( 'Sovgate AI gateway', 'sovgate' ) . '</h1>';
		self::render_test_result();
		self::render_status( $status );
		self::render_mode_problem();
		self::render_hosts_added();
		self::render_hosts_problem();
		echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '" id="sovgate-settings-form">';
		settings_fields( self::GROUP );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';
		echo '<h2>' . esc_html__( 'Test connection', 'sovgate' ) . '</h2>';
		echo '<p>' . esc_html__( 'Checks that the gateway answers (TLS verified), accepts the site key, and answers a canary request, sent once straight to the gateway and once to api.openai.com through the interception.', 'sovgate' ) . '</p>';
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" id="sovgate-test-form">';
		echo '<input type="hidden" name="action" value="sovgate_test" />';
		wp_nonce_field( 'sovgate_test' );
		submit_button( __( 'Test connection', 'sovgate' ), 'secondary', 'sovgate-test', false );
		echo '</form>';
		self::render_events( $status['events'] );
		echo '</div>';
	}

	/**
	 * The last connection test's result (once).
	 */
	private static function render_test_result() {
		$key    = 'sovgate_test_' . get_current_user_id();
		$checks = get_transient( $key );
		if ( ! is_array( $checks ) ) {
			return;
		}
		delete_transient( $key );
		$ok = ! in_array( false, wp_list_pluck( $checks, 'ok' ), true );
		printf( '<div class="notice %s" id="sovgate-test-result"><p><strong>', esc_attr( $ok ? 'notice-success' : 'notice-error' ) );
		echo $ok ? esc_html__( 'Connection test passed.', 'sovgate' ) : esc_html__( 'Connection test failed.', 'sovgate' );
		echo '</strong></p><ul>';
		foreach ( $checks as $check ) {
			printf(
				'<li>%1$s <strong>%2$s</strong>: %3$s</li>',
				$check['ok'] ? '&#10003;' : '&#10007;',
				esc_html( $check['name'] ),
				esc_html( $check['detail'] )
			);
		}
		echo '</ul></div>';
	}

	/**
	 * A notice naming the default AI hosts that an update added to the saved list (until
	 * the list is saved again).
	 */
	public static function render_hosts_added() {
		$added = Sovgate_Settings::hosts_added();
		if ( ! $added ) {
			return;
		}
		echo '<div class="notice notice-info inline" id="sovgate-hosts-added"><p>';
		/* translators: %s: host names. */
		echo esc_html( sprintf( __( 'Added to the AI hosts since the list was last saved, as defaults of this version of Sovgate: %s.', 'sovgate' ), implode( ', ', $added ) ) );
		echo ' ';
		echo self::locked( 'hosts' )
			? esc_html( self::locked_reason( 'hosts' ) )
			: esc_html__( 'Calls to them are intercepted now. To leave one out, remove it from the list and save: the removal is kept.', 'sovgate' );
		echo '</p></div>';
	}

	/**
	 * A notice saying that the mode set (SOVGATE_MODE, or the stored option) is no mode,
	 * naming it, and that enforce is in effect.
	 */
	public static function render_mode_problem() {
		$problem = Sovgate_Settings::mode_problem();
		if ( '' === $problem ) {
			return;
		}
		echo '<div class="notice notice-error inline" id="sovgate-mode-problem"><p>' . esc_html( $problem ) . '</p></div>';
	}

	/**
	 * A notice saying what is wrong with the AI host list from code (SOVGATE_HOSTS, or a
	 * stored list over the limits) and how it fails closed.
	 */
	public static function render_hosts_problem() {
		$problem = Sovgate_Settings::hosts_problem();
		if ( '' === $problem ) {
			return;
		}
		echo '<div class="notice notice-error inline" id="sovgate-hosts-problem"><p>' . esc_html( $problem ) . '</p></div>';
	}

	/**
	 * The interception status box.
	 *
	 * @param array $status From Sovgate_Client::status().
	 */
	private static function render_status( array $status ) {
		if ( $status['configured'] ) {
			$interception = __( 'active: AI calls go to the gateway', 'sovgate' );
		} elseif ( 'enforce' === $status['mode'] ) {
			$interception = __( 'not configured: AI calls are blocked', 'sovgate' );
		} else {
			$interception = __( 'not configured: AI calls go to the providers (monitor mode)', 'sovgate' );
		}
		$count  = '' === $status['fields'] ? 0 : substr_count( $status['fields'], ',' ) + 1;
		$fields = $count
			/* translators: %d: number of field names. */
			? sprintf( _n( '%d field name sent in X-Sovgate-Fields', '%d field names sent in X-Sovgate-Fields', $count, 'sovgate' ), $count )
			: __( 'none', 'sovgate' );
		if ( '' !== $status['mode_problem'] ) {
			$mode = __( 'enforce, because the mode set is not a mode (see below)', 'sovgate' );
		} elseif ( 'enforce' === $status['mode'] ) {
			$mode = __( 'enforce: AI calls that cannot go through the gateway are blocked', 'sovgate' );
		} else {
			$mode = __( 'monitor: AI calls that cannot go through the gateway go to the providers', 'sovgate' );
		}
		$rows = array(
			array( __( 'Interception', 'sovgate' ), $interception ),
			array( __( 'Mode', 'sovgate' ), $mode ),
			array(
				__( 'Loaded before other plugins', 'sovgate' ),
				$status['loaded_early'] ? __( 'yes (must-use loader)', 'sovgate' ) : __( 'no: install mu-plugin/sovgate-loader.php in wp-content/mu-plugins', 'sovgate' ),
			),
			array(
				__( 'cURL transport', 'sovgate' ),
				$status['curl'] ? __( 'yes: calls are rerouted on the cURL handle', 'sovgate' ) : __( 'no: Sovgate sends AI calls to the gateway itself', 'sovgate' ),
			),
			array(
				__( 'WooCommerce', 'sovgate' ),
				$status['woocommerce'] ? __( 'active', 'sovgate' ) : __( 'not active', 'sovgate' ),
			),
			array( __( 'Field names for the gateway', 'sovgate' ), $fields ),
		);
		echo '<table class="widefat striped" id="sovgate-status" style="max-width:60em"><tbody>';
		foreach ( $rows as $row ) {
			printf( '<tr><th scope="row">%1$s</th><td>%2$s</td></tr>', esc_html( $row[0] ), esc_html( $row[1] ) );
		}
		echo '</tbody></table>';
		echo '<p class="description">' . esc_html__( 'Not covered by WordPress hooks: HTTP clients that plugins bundle (such as Guzzle) and calls made by the visitor\'s browser. Point the provider host names at the gateway on the network for those (see docs/wordpress.md).', 'sovgate' ) . '</p>';
	}

	/**
	 * The recent events.
	 *
	 * @param array[] $events Events, newest first.
	 */
	private static function render_events( array $events ) {
		echo '<h2>' . esc_html__( 'Recent problems', 'sovgate' ) . '</h2>';
		if ( ! $events ) {
			echo '<p id="sovgate-events">' . esc_html__( 'None: no AI call was blocked, unrouted or unanswered.', 'sovgate' ) . '</p>';
			return;
		}
		echo '<table class="widefat striped" id="sovgate-events"><thead><tr>';
		foreach ( array( __( 'Time', 'sovgate' ), __( 'What', 'sovgate' ), __( 'Source', 'sovgate' ), __( 'Host', 'sovgate' ), __( 'Detail', 'sovgate' ) ) as $h ) {
			echo '<th>' . esc_html( $h ) . '</th>';
		}
		echo '</tr></thead><tbody>';
		foreach ( array_slice( $events, 0, 20 ) as $e ) {
			printf(
				'<tr><td>%1$s</td><td>%2$s</td><td>%3$s</td><td>%4$s</td><td>%5$s</td></tr>',
				esc_html( wp_date( 'Y-m-d H:i:s', (int) $e['time'] ) ),
				esc_html( $e['type'] ),
				esc_html( $e['source'] ),
				esc_html( $e['host'] ),
				esc_html( $e['message'] )
			);
		}
		echo '</tbody></table>';
	}
}
