<?php
/**
 * The plugin's settings: one option array, defaults, and wp-config.php constants that
 * override it (SOVGATE_GATEWAY_URL, SOVGATE_KEY, SOVGATE_CA_BUNDLE, SOVGATE_MODE,
 * SOVGATE_HOSTS).
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Settings access.
 */
final class Sovgate_Settings {

	const OPTION = 'sovgate_settings';

	const SECRET_OPTION = 'sovgate_site_secret';

	/**
	 * The modes: enforce (the default; also what any other value means) and monitor.
	 *
	 * @var string[]
	 */
	const MODES = array( 'enforce', 'monitor' );

	/**
	 * Setting name => the constant that overrides it.
	 *
	 * @var array<string, string>
	 */
	const CONSTANTS = array(
		'gateway_url' => 'SOVGATE_GATEWAY_URL',
		'api_key'     => 'SOVGATE_KEY',
		'ca_bundle'   => 'SOVGATE_CA_BUNDLE',
		'mode'        => 'SOVGATE_MODE',
		'hosts'       => 'SOVGATE_HOSTS',
	);

	/**
	 * Where systems keep their trusted CAs (Debian and Ubuntu, Fedora and RHEL, Alpine and
	 * the BSDs, openSUSE); PHP's OpenSSL default is tried after these.
	 *
	 * @var string[]
	 */
	const SYSTEM_CA_FILES = array(
		'/etc/ssl/certs/ca-certificates.crt',
		'/etc/pki/tls/certs/ca-bundle.crt',
		'/etc/ssl/cert.pem',
		'/etc/ssl/ca-bundle.pem',
	);

	/**
	 * Settings as saved, merged over the defaults, constants applied (cached until the
	 * option changes).
	 *
	 * @var array|null
	 */
	private static $cache = null;

	/**
	 * The defaults added to the saved host list (see hosts_added()), with the cache.
	 *
	 * @var string[]
	 */
	private static $hosts_added = array();

	/**
	 * What is wrong with the host list from code (see hosts_problem()), with the cache.
	 *
	 * @var string
	 */
	private static $hosts_problem = '';

	/**
	 * What is wrong with the mode set (see mode_problem()), with the cache.
	 *
	 * @var string
	 */
	private static $mode_problem = '';

	/**
	 * Forgets the cached settings when they change, and when code switches to another
	 * site of a multisite network (switch_to_blog(), restore_current_blog()): the settings
	 * are per site.
	 */
	public static function register() {
		foreach ( array( 'add_option_', 'update_option_', 'delete_option_' ) as $prefix ) {
			add_action( $prefix . self::OPTION, array( __CLASS__, 'flush' ) );
		}
		add_action( 'switch_blog', array( __CLASS__, 'flush' ) );
	}

	/**
	 * The defaults.
	 *
	 * @return array
	 */
	public static function defaults() {
		return array(
			'gateway_url'     => '',
			'api_key'         => '',
			'ca_bundle'       => '',
			'mode'            => 'enforce',
			'hosts'           => Sovgate_Hosts::DEFAULTS,
			'chat_model'      => 'assistant',
			'chat_public'     => true,
			'chat_rate_limit' => 20,
			'timeout'         => 60,
		);
	}

	/**
	 * All settings (constants win over the saved option). The AI hosts are those in effect:
	 * SOVGATE_HOSTS exactly as defined; else the saved list with the defaults added that
	 * were not shown when it was saved (Sovgate_Hosts::effective()); else the defaults. A
	 * list that is not a list of host names or is over the limits
	 * (Sovgate_Hosts::list_problem()) fails closed: none of its host names is dropped, every
	 * default is added (to SOVGATE_HOSTS too), and hosts_problem() says what is wrong.
	 * A mode other than enforce or monitor (SOVGATE_MODE, or the stored option) means
	 * enforce (fail closed), and mode_problem() says so.
	 *
	 * @return array
	 */
	public static function all() {
		if ( null !== self::$cache ) {
			return self::$cache;
		}
		$saved = get_option( self::OPTION, array() );
		$saved = is_array( $saved ) ? $saved : array();
		$all   = array_merge( self::defaults(), $saved );
		unset( $all['hosts_defaults_seen'] );
		foreach ( self::CONSTANTS as $name => $constant ) {
			if ( defined( $constant ) ) {
				$value = constant( $constant );
				// The host list and the mode as defined: checked below, never cast (an
				// integer SOVGATE_HOSTS is no host list; an object cannot be cast).
				$all[ $name ] = in_array( $name, array( 'hosts', 'mode' ), true ) ? $value : (string) $value;
			}
		}
		$mode_problem = '';
		if ( ! in_array( $all['mode'], self::MODES, true ) ) {
			if ( self::is_constant( 'mode' ) ) {
				/* translators: %s: the value set, such as "monitr". */
				$format = __( 'SOVGATE_MODE in wp-config.php is %s, which is not a mode (enforce or monitor): enforce is in effect, so AI calls that cannot go through the gateway are blocked. Set it to \'enforce\' or \'monitor\'.', 'sovgate' );
			} else {
				/* translators: %s: the value stored, such as "monitr". */
				$format = __( 'The saved mode is %s, which is not a mode (enforce or monitor): enforce is in effect, so AI calls that cannot go through the gateway are blocked. Choose a mode on the settings page and save.', 'sovgate' );
			}
			$mode_problem = sprintf( $format, self::describe_value( $all['mode'] ) );
			$all['mode']  = 'enforce';
		}
		$added   = array();
		$problem = '';
		$count   = 0;
		if ( self::is_constant( 'hosts' ) ) {
			$reason       = Sovgate_Hosts::list_problem( $all['hosts'], $count );
			$all['hosts'] = Sovgate_Hosts::parse_list( $all['hosts'] );
			if ( '' !== $reason ) {
				$all['hosts'] = array_values( array_unique( array_merge( $all['hosts'], Sovgate_Hosts::DEFAULTS ) ) );
				$problem      = sprintf(
					/* translators: 1: what is wrong with the list (see hosts_limit_reason()), 2: the limits. */
					__( 'SOVGATE_HOSTS in wp-config.php %1$s: every host name on it is intercepted and every default AI host is added. Shorten it to %2$s.', 'sovgate' ),
					self::hosts_limit_reason( $reason, $count ),
					self::hosts_limits()
				);
			}
		} else {
			$stored       = array_key_exists( 'hosts', $saved ) ? $saved['hosts'] : null;
			$reason       = null === $stored ? '' : Sovgate_Hosts::list_problem( $stored, $count );
			$all['hosts'] = Sovgate_Hosts::effective(
				$stored,
				array_key_exists( 'hosts_defaults_seen', $saved ) ? $saved['hosts_defaults_seen'] : null,
				$added
			);
			if ( '' !== $reason ) {
				$problem = sprintf(
					/* translators: 1: what is wrong with the list (see hosts_limit_reason()), 2: the limits. */
					__( 'The saved AI host list %1$s: every host name on it is intercepted and every default AI host is added. Save a list of %2$s.', 'sovgate' ),
					self::hosts_limit_reason( $reason, $count ),
					self::hosts_limits()
				);
			}
		}
		self::$hosts_added   = $added;
		self::$hosts_problem = $problem;
		self::$mode_problem  = $mode_problem;
		self::$cache         = $all;
		return $all;
	}

	/**
	 * What is wrong with the AI host list from code (SOVGATE_HOSTS, or a stored list a
	 * script or an older version wrote): not a list of host names, or over the limits
	 * (Sovgate_Hosts::list_problem()). Such a list fails closed (see all()).
	 *
	 * @return string A translated message, or '' when nothing is wrong.
	 */
	public static function hosts_problem() {
		self::all();
		return self::$hosts_problem;
	}

	/**
	 * What is wrong with the mode set (SOVGATE_MODE, or the stored option written by a
	 * script, WP-CLI or by hand): a value other than enforce or monitor, which means
	 * enforce (see all()).
	 *
	 * @return string A translated message naming the value, or '' when nothing is wrong.
	 */
	public static function mode_problem() {
		self::all();
		return self::$mode_problem;
	}

	/**
	 * A value as set, for a message: text in quotes (control and format characters, and
	 * the bytes of text that is not UTF-8, shown as `?`; cut to 64 characters), a number,
	 * true, false or null, or the kind of value (an array, an object). Not escaped.
	 *
	 * @param mixed $value A value.
	 * @return string
	 */
	public static function describe_value( $value ) {
		if ( is_string( $value ) ) {
			if ( ! preg_match( '//u', $value ) ) {
				$value = preg_replace( '/[^\x00-\x7f]/', '?', $value );
			}
			$value = preg_replace( '/\p{C}/u', '?', $value );
			$cut   = preg_match( '/^.{65}/us', $value ) ? '...' : '';
			return '"' . preg_replace( '/^(.{0,64}).*$/us', '$1', $value ) . $cut . '"';
		}
		if ( is_bool( $value ) ) {
			return $value ? 'true' : 'false';
		}
		if ( null === $value ) {
			return 'null';
		}
		if ( is_int( $value ) || is_float( $value ) ) {
			return (string) $value;
		}
		return is_array( $value ) ? __( 'an array', 'sovgate' ) : __( 'an object', 'sovgate' );
	}

	/**
	 * What is wrong with a host list, for a message: "The … list %s".
	 *
	 * @param string $reason A problem from Sovgate_Hosts::list_problem().
	 * @param int    $count  The entries it counted.
	 * @return string A translated phrase.
	 */
	public static function hosts_limit_reason( $reason, $count ) {
		switch ( $reason ) {
			case 'text':
				/* translators: %d: KiB. */
				return sprintf( __( 'is longer than %d KiB', 'sovgate' ), Sovgate_Hosts::MAX_TEXT / 1024 );
			case 'count':
				/* translators: 1: number of entries, 2: the most allowed. */
				return sprintf( __( 'has %1$d entries, more than %2$d', 'sovgate' ), $count, Sovgate_Hosts::MAX_HOSTS );
			case 'length':
				/* translators: %d: bytes. */
				return sprintf( __( 'has an entry longer than %d bytes, the longest host name', 'sovgate' ), Sovgate_Hosts::MAX_LENGTH );
			default:
				return __( 'is not text with one host per line, nor a list of host names', 'sovgate' );
		}
	}

	/**
	 * The limits of a host list, for a message.
	 *
	 * @return string A translated phrase.
	 */
	public static function hosts_limits() {
		/* translators: 1: most entries, 2: most bytes in an entry, 3: most KiB of text. */
		return sprintf( __( 'at most %1$d entries of at most %2$d bytes each (%3$d KiB in all)', 'sovgate' ), Sovgate_Hosts::MAX_HOSTS, Sovgate_Hosts::MAX_LENGTH, Sovgate_Hosts::MAX_TEXT / 1024 );
	}

	/**
	 * The default AI hosts in effect that the saved list does not hold and that were not
	 * shown when it was saved: hosts an update of Sovgate added since (none when no list
	 * is saved, or SOVGATE_HOSTS fixes it).
	 *
	 * @return string[]
	 */
	public static function hosts_added() {
		self::all();
		return self::$hosts_added;
	}

	/**
	 * One setting.
	 *
	 * @param string $name Setting name.
	 * @return mixed
	 */
	public static function get( $name ) {
		$all = self::all();
		return $all[ $name ] ?? null;
	}

	/**
	 * Forgets the cached option (after it changed).
	 */
	public static function flush() {
		self::$cache = null;
	}

	/**
	 * Whether a setting is fixed by a constant in wp-config.php.
	 *
	 * @param string $name Setting name.
	 * @return bool
	 */
	public static function is_constant( $name ) {
		return isset( self::CONSTANTS[ $name ] ) && defined( self::CONSTANTS[ $name ] );
	}

	/**
	 * The gateway's base URL ('' when not set or not usable).
	 *
	 * @return string
	 */
	public static function gateway_base() {
		$url = Sovgate_Mapper::gateway_base( (string) self::get( 'gateway_url' ) );
		return '' === self::gateway_url_problem( $url ) ? $url : '';
	}

	/**
	 * What is wrong with a gateway URL, or '' when it can be used: it must be https
	 * (plain http only on a loopback address), have a host, and not be an AI host
	 * (that would send the traffic to the cloud).
	 *
	 * @param string        $url   URL.
	 * @param string[]|null $hosts The AI host list (null: the saved one).
	 * @return string A translated message, or ''.
	 */
	public static function gateway_url_problem( $url, $hosts = null ) {
		if ( '' === $url ) {
			return __( 'No gateway URL is set.', 'sovgate' );
		}
		$scheme = strtolower( (string) Sovgate_Hosts::url_part( $url, PHP_URL_SCHEME ) );
		$host   = Sovgate_Hosts::host_of( $url );
		if ( null === $host ) {
			return __( 'The gateway URL\'s host name cannot be read.', 'sovgate' );
		}
		if ( '' === $host || ! in_array( $scheme, array( 'http', 'https' ), true ) ) {
			return __( 'The gateway URL must be an https:// URL.', 'sovgate' );
		}
		if ( null !== Sovgate_Hosts::url_part( $url, PHP_URL_USER ) || null !== Sovgate_Hosts::url_part( $url, PHP_URL_QUERY ) ) {
			return __( 'The gateway URL must not contain a user name, password or query.', 'sovgate' );
		}
		if ( 'http' === $scheme && ! self::is_loopback( $host ) ) {
			return __( 'Plain http:// is allowed only for a gateway on this machine (localhost, 127.0.0.0/8, [::1]); use https://.', 'sovgate' );
		}
		$hosts = null === $hosts ? self::all()['hosts'] : $hosts;
		if ( null !== Sovgate_Hosts::match( $host, $hosts ) ) {
			return __( 'The gateway URL names an AI provider host; it must be your own Sovgate gateway.', 'sovgate' );
		}
		return '';
	}

	/**
	 * Whether a host is localhost, an IPv4 address in 127.0.0.0/8 or ::1.
	 *
	 * @param string $host Canonical host (Sovgate_Hosts::host_of()).
	 * @return bool
	 */
	public static function is_loopback( $host ) {
		$host = (string) $host;
		if ( 'localhost' === $host || '::1' === $host ) {
			return true;
		}
		return false !== filter_var( $host, FILTER_VALIDATE_IP, FILTER_FLAG_IPV4 ) && 0 === strpos( $host, '127.' );
	}

	/**
	 * Whether AI calls can be sent to the gateway (URL and key set).
	 *
	 * @return bool
	 */
	public static function is_configured() {
		return '' !== self::gateway_base() && '' !== (string) self::get( 'api_key' );
	}

	/**
	 * The CA bundle to verify the gateway's certificate with: the one set, or (none set)
	 * the system's trusted CAs; '' when neither can be read (WordPress's own bundle is
	 * then used).
	 *
	 * @return string
	 */
	public static function ca_bundle() {
		$ca = (string) self::get( 'ca_bundle' );
		if ( '' === $ca ) {
			return self::system_ca_file();
		}
		return is_readable( $ca ) ? $ca : '';
	}

	/**
	 * The system's file of trusted CAs ('' when none is found).
	 *
	 * @return string
	 */
	public static function system_ca_file() {
		$openssl = function_exists( 'openssl_get_cert_locations' ) ? openssl_get_cert_locations() : array();
		foreach ( array_merge( self::SYSTEM_CA_FILES, array( (string) ( $openssl['default_cert_file'] ?? '' ) ) ) as $file ) {
			if ( '' !== $file && is_file( $file ) && is_readable( $file ) ) {
				return $file;
			}
		}
		return '';
	}

	/**
	 * Whether unrouted AI calls are blocked (enforce) rather than only reported (monitor).
	 *
	 * @return bool
	 */
	public static function enforcing() {
		return 'monitor' !== self::get( 'mode' );
	}

	/**
	 * The site's secret for X-Sovgate-User (made on first use, kept in an option).
	 *
	 * @return string
	 */
	public static function site_secret() {
		$secret = get_option( self::SECRET_OPTION, '' );
		if ( ! is_string( $secret ) || strlen( $secret ) < 32 ) {
			$secret = bin2hex( random_bytes( 32 ) );
			update_option( self::SECRET_OPTION, $secret, false );
		}
		return $secret;
	}
}
