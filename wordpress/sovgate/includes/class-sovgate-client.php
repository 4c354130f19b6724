<?php
/**
 * Sovgate's own calls to the gateway (health, models, the connection test, the chat
 * route), and the diagnostics that the settings page, Site Health and WP-CLI show.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Gateway client.
 */
final class Sovgate_Client {

	/**
	 * The source Sovgate's own calls carry.
	 */
	const SOURCE = 'sovgate';

	/**
	 * HTTP arguments for a call to the gateway.
	 *
	 * @param array $args Extra arguments (merged over the defaults).
	 * @param bool  $auth Whether to send the site key.
	 * @return array
	 */
	public static function args( array $args = array(), $auth = true ) {
		$headers = array(
			'Content-Type'     => 'application/json',
			'X-Sovgate-Source' => self::SOURCE,
		);
		$user = get_current_user_id();
		if ( $user ) {
			$headers['X-Sovgate-User'] = Sovgate_Mapper::user_hash( $user, Sovgate_Settings::site_secret() );
		}
		$fields = Sovgate_Fields::site_header();
		if ( '' !== $fields ) {
			$headers['X-Sovgate-Fields'] = $fields;
		}
		if ( $auth ) {
			$headers['Authorization'] = 'Bearer ' . Sovgate_Settings::get( 'api_key' );
		}
		$defaults = array(
			'timeout'            => (int) Sovgate_Settings::get( 'timeout' ),
			'redirection'        => 0,
			'sslverify'          => true,
			'reject_unsafe_urls' => false,
			'headers'            => $headers,
		);
		$ca       = Sovgate_Settings::ca_bundle();
		if ( '' !== $ca ) {
			$defaults['sslcertificates'] = $ca;
		}
		$args = array_merge( $defaults, $args );
		if ( isset( $args['extra_headers'] ) ) {
			$args['headers'] = array_merge( $headers, $args['extra_headers'] );
			unset( $args['extra_headers'] );
		}
		return $args;
	}

	/**
	 * A call to the gateway.
	 *
	 * @param string     $method HTTP method.
	 * @param string     $path   Path (`/v1/models`).
	 * @param array|null $body   JSON body.
	 * @param array      $args   Extra HTTP arguments.
	 * @param bool       $auth   Whether to send the site key.
	 * @return array|WP_Error
	 */
	public static function request( $method, $path, $body = null, array $args = array(), $auth = true ) {
		$base = Sovgate_Settings::gateway_base();
		if ( '' === $base ) {
			return new WP_Error( 'sovgate_not_configured', __( 'No usable gateway URL is configured.', 'sovgate' ) );
		}
		if ( $auth && '' === (string) Sovgate_Settings::get( 'api_key' ) ) {
			return new WP_Error( 'sovgate_not_configured', __( 'No site key is configured.', 'sovgate' ) );
		}
		$args['method'] = $method;
		if ( null !== $body ) {
			$args['body'] = wp_json_encode( $body );
		}
		return wp_remote_request( $base . $path, self::args( $args, $auth ) );
	}

	/**
	 * The message of an OpenAI-shaped error body, or the HTTP status line.
	 *
	 * @param array $response HTTP response.
	 * @return string
	 */
	public static function error_of( $response ) {
		$json = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( is_array( $json ) && isset( $json['error']['message'] ) && is_string( $json['error']['message'] ) ) {
			return $json['error']['message'];
		}
		return trim( wp_remote_retrieve_response_code( $response ) . ' ' . wp_remote_retrieve_response_message( $response ) );
	}

	/**
	 * Checks the gateway: reachable (GET /healthz), the key accepted (GET /v1/models),
	 * and a canary chat request answered, sent once straight to the gateway and once to
	 * api.openai.com through the interception (the way other plugins' calls go).
	 *
	 * @param bool $canary Whether to send the canary requests.
	 * @return array[] Checks: name, ok (bool), detail (string).
	 */
	public static function diagnose( $canary = true ) {
		$checks = array();
		$base   = Sovgate_Settings::gateway_base();
		if ( '' === $base || '' === (string) Sovgate_Settings::get( 'api_key' ) ) {
			$checks[] = array(
				'name'   => __( 'Configuration', 'sovgate' ),
				'ok'     => false,
				'detail' => '' === $base
					? Sovgate_Settings::gateway_url_problem( Sovgate_Mapper::gateway_base( (string) Sovgate_Settings::get( 'gateway_url' ) ) )
					: __( 'No site key is configured.', 'sovgate' ),
			);
			return $checks;
		}
		$start    = microtime( true );
		$health   = self::request( 'GET', '/healthz', null, array( 'timeout' => 5 ), false );
		$checks[] = self::check(
			__( 'Gateway reachable (TLS verified)', 'sovgate' ),
			$health,
			$start,
			function ( $r ) {
				return 200 === wp_remote_retrieve_response_code( $r ) ? '' : self::error_of( $r );
			}
		);
		if ( is_wp_error( $health ) ) {
			return $checks;
		}
		$start    = microtime( true );
		$models   = self::request( 'GET', '/v1/models', null, array( 'timeout' => 10 ) );
		$checks[] = self::check(
			__( 'Site key accepted', 'sovgate' ),
			$models,
			$start,
			function ( $r ) {
				if ( 200 !== wp_remote_retrieve_response_code( $r ) ) {
					return self::error_of( $r );
				}
				$json = json_decode( (string) wp_remote_retrieve_body( $r ), true );
				$ids  = array();
				foreach ( (array) ( $json['data'] ?? array() ) as $m ) {
					if ( isset( $m['id'] ) && is_string( $m['id'] ) ) {
						$ids[] = $m['id'];
					}
				}
				/* translators: %s: model names. */
				return array( sprintf( __( 'models: %s', 'sovgate' ), implode( ', ', $ids ) ) );
			}
		);
		if ( ! $canary || 200 !== wp_remote_retrieve_response_code( $models ) ) {
			return $checks;
		}
		$body     = self::canary_body();
		$start    = microtime( true );
		$direct   = self::request( 'POST', '/v1/chat/completions', $body, array( 'timeout' => 60 ) );
		$checks[] = self::check( __( 'Canary request to the gateway', 'sovgate' ), $direct, $start, array( __CLASS__, 'describe_answer' ) );
		$start    = microtime( true );
		$caught   = wp_remote_post(
			'https://api.openai.com/v1/chat/completions',
			array(
				'timeout' => 60,
				'headers' => array(
					'Content-Type'  => 'application/json',
					'Authorization' => 'Bearer sovgate-canary-not-a-key',
				),
				'body'    => wp_json_encode( $body ),
			)
		);
		$checks[] = self::check( __( 'Canary call to api.openai.com, intercepted', 'sovgate' ), $caught, $start, array( __CLASS__, 'describe_answer' ) );
		return $checks;
	}

	/**
	 * A canary chat request: a short prompt with a made-up e-mail address, which the
	 * gateway pseudonymizes on the way to the model and restores in the answer.
	 *
	 * @return array
	 */
	public static function canary_body() {
		return array(
			'model'      => (string) Sovgate_Settings::get( 'chat_model' ),
			'max_tokens' => 16,
			'messages'   => array(
				array(
					'role'    => 'user',
					'content' => 'Sovgate connection test from WordPress: reply with OK. Contact: sovgate-canary@example.com',
				),
			),
		);
	}

	/**
	 * Describes an answer from the gateway: the request id, the model and the Sovgate
	 * headers it sent back (what the gateway saw), or the error.
	 *
	 * @param array $r HTTP response.
	 * @return string|array '' or an error string, or an array with the detail (success).
	 */
	public static function describe_answer( $r ) {
		if ( 200 !== wp_remote_retrieve_response_code( $r ) ) {
			return self::error_of( $r );
		}
		$id = (string) wp_remote_retrieve_header( $r, 'x-request-id' );
		if ( '' === $id ) {
			return __( 'the answer did not come from a Sovgate gateway (no x-request-id)', 'sovgate' );
		}
		$json  = json_decode( (string) wp_remote_retrieve_body( $r ), true );
		$parts = array(
			/* translators: %s: request id. */
			sprintf( __( 'request id %s', 'sovgate' ), $id ),
		);
		if ( isset( $json['model'] ) && is_string( $json['model'] ) ) {
			/* translators: %s: model name. */
			$parts[] = sprintf( __( 'model %s', 'sovgate' ), $json['model'] );
		}
		foreach ( (array) wp_remote_retrieve_headers( $r ) as $name => $value ) {
			if ( 0 === stripos( (string) $name, 'x-sovgate-' ) ) {
				$parts[] = strtolower( (string) $name ) . ': ' . ( is_array( $value ) ? implode( ', ', $value ) : $value );
			}
		}
		return array( implode( '; ', $parts ) );
	}

	/**
	 * One diagnostic check.
	 *
	 * @param string         $name     Its name.
	 * @param array|WP_Error $response The response.
	 * @param float          $start    When the call started.
	 * @param callable       $judge    Returns '' (fine), an error string, or an array with
	 *                                 the detail of a success.
	 * @return array
	 */
	private static function check( $name, $response, $start, $judge ) {
		$ms = (int) round( ( microtime( true ) - $start ) * 1000 );
		if ( is_wp_error( $response ) ) {
			return array(
				'name'   => $name,
				'ok'     => false,
				'detail' => $response->get_error_message(),
			);
		}
		$verdict = call_user_func( $judge, $response );
		$ok      = '' === $verdict || is_array( $verdict );
		$detail  = is_array( $verdict ) ? implode( '; ', $verdict ) : (string) $verdict;
		/* translators: %d: milliseconds. */
		$timing = sprintf( __( '%d ms', 'sovgate' ), $ms );
		return array(
			'name'   => $name,
			'ok'     => $ok,
			'detail' => '' === $detail ? $timing : $detail . ' (' . $timing . ')',
		);
	}

	/**
	 * Interception status: what is in place, for the settings page, Site Health and
	 * `wp sovgate status`. Makes no network call.
	 *
	 * @return array
	 */
	public static function status() {
		$loader = defined( 'WPMU_PLUGIN_DIR' ) ? WPMU_PLUGIN_DIR . '/sovgate-loader.php' : '';
		return array(
			'version'       => SOVGATE_VERSION,
			'configured'    => Sovgate_Settings::is_configured(),
			'gateway'       => Sovgate_Settings::gateway_base(),
			'key'           => '' !== (string) Sovgate_Settings::get( 'api_key' ),
			'ca_bundle'     => Sovgate_Settings::ca_bundle(),
			'mode'          => Sovgate_Settings::get( 'mode' ),
			'mode_problem'  => Sovgate_Settings::mode_problem(),
			'hosts'         => Sovgate_Settings::get( 'hosts' ),
			'hosts_added'   => Sovgate_Settings::hosts_added(),
			'hosts_problem' => Sovgate_Settings::hosts_problem(),
			'curl'          => Sovgate_Interceptor::curl_transport(),
			'loader'        => '' !== $loader && is_readable( $loader ),
			'loaded_early'  => defined( 'SOVGATE_LOADED_BY_MU' ),
			'woocommerce'   => class_exists( 'WooCommerce' ),
			'fields'        => Sovgate_Fields::site_header(),
			'events'        => Sovgate_Events::all(),
		);
	}
}
