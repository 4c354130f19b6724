<?php
/**
 * Interception of AI calls made through WordPress's HTTP API.
 *
 * 1. `http_request_args` (last): a call to an AI host is marked (source, host), the site's
 *    `sovgate_request_args` filter runs, and TLS verification is set to the gateway's CA.
 * 2. `pre_http_request` (last): not configured → blocked (enforce) or reported (monitor);
 *    an API the gateway does not serve (Sovgate_Mapper::NATIVE_APIS) → blocked (both);
 *    no cURL transport (or WP_HTTP_BLOCK_EXTERNAL would refuse the provider) → Sovgate
 *    sends the call to the gateway itself (fallback).
 * 3. `http_api_curl` (first): the cURL handle is pointed at the gateway, with the
 *    provider's credentials replaced by the site key and the Sovgate headers added. The
 *    request keeps its original URL in WordPress, so other plugins' own
 *    `http_api_curl` callbacks (streaming CURLOPT_WRITEFUNCTIONs) still recognise and
 *    handle it. A second callback (last) checks that nobody changed the target since.
 * 4. `http_api_debug`: a rerouted call that failed gets a clear WP_Error; it is never
 *    retried against the provider.
 * 5. `http_response`: the site's `sovgate_response` filter.
 *
 * And `requests-requests.before_request` (last), where WordPress has applied every
 * setting of a call (`sslverify`, `https_ssl_verify`): a call to the gateway, or to an AI
 * host while the gateway is configured, is verified with the gateway's CA bundle whatever
 * another plugin set; one whose verification is switched off after that is refused
 * before its transport connects (guard_tls()).
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The HTTP API hooks.
 */
final class Sovgate_Interceptor {

	/**
	 * The key of Sovgate's mark in the HTTP API's request arguments.
	 */
	const ARG = 'sovgate';

	/**
	 * Calls pointed at the gateway: mark id => target.
	 *
	 * @var array
	 */
	private static $rerouted = array();

	/**
	 * Calls stopped in the transport: mark id => reason.
	 *
	 * @var array
	 */
	private static $killed = array();

	/**
	 * Calls refused by guard_request(): the error message => the reason code.
	 *
	 * @var array
	 */
	private static $refused = array();

	/**
	 * Adds the hooks.
	 */
	public static function register() {
		add_filter( 'http_request_args', array( __CLASS__, 'request_args' ), PHP_INT_MAX, 2 );
		add_filter( 'pre_http_request', array( __CLASS__, 'pre_http_request' ), PHP_INT_MAX, 3 );
		add_action( 'http_api_curl', array( __CLASS__, 'reroute_curl' ), PHP_INT_MIN, 3 );
		add_action( 'http_api_curl', array( __CLASS__, 'recheck_curl' ), PHP_INT_MAX, 3 );
		add_action( 'http_api_debug', array( __CLASS__, 'explain_error' ), 10, 5 );
		add_filter( 'http_response', array( __CLASS__, 'response' ), 10, 3 );
		add_action( 'requests-requests.before_request', array( __CLASS__, 'guard_request' ), PHP_INT_MAX, 5 );
		add_action( 'requests-requests.before_request', array( __CLASS__, 'guard_tls' ), PHP_INT_MAX, 5 );
	}

	/**
	 * Marks calls to AI hosts.
	 *
	 * @param array  $args HTTP request arguments.
	 * @param string $url  The request URL.
	 * @return array
	 */
	public static function request_args( $args, $url ) {
		if ( ! is_array( $args ) ) {
			return $args;
		}
		unset( $args[ self::ARG ] );
		$host = Sovgate_Hosts::ai_host( (string) $url, Sovgate_Settings::get( 'hosts' ) );
		if ( null === $host ) {
			return $args;
		}
		$source = Sovgate_Source::detect();
		/**
		 * Filters the arguments of an AI call before it leaves WordPress (for the gateway or,
		 * in monitor mode without a gateway, the provider): remove or replace data the
		 * model does not need.
		 *
		 * @param array  $args   HTTP request arguments (`body`, `headers`, …).
		 * @param string $source The calling plugin's slug (`theme:NAME`, `mu-plugin:NAME`,
		 *                       `wordpress`, `unknown`).
		 * @param string $url    The provider URL.
		 */
		$filtered = apply_filters( 'sovgate_request_args', $args, $source, $url );
		if ( is_array( $filtered ) ) {
			$args = $filtered;
		}
		$routed            = Sovgate_Settings::is_configured();
		$args[ self::ARG ] = array(
			'id'     => bin2hex( random_bytes( 8 ) ),
			'host'   => $host,
			'source' => $source,
			'routed' => $routed,
		);
		if ( $routed ) {
			// The call goes to the gateway: verify its certificate (whatever the caller
			// asked), follow no redirects, and check the gateway rather than the
			// provider's address for wp_safe_remote_*() (the destination is the
			// administrator's gateway, and no DNS lookup of the provider is needed).
			$args['sslverify']          = true;
			$args['redirection']        = 0;
			$args['reject_unsafe_urls'] = false;
			$ca                         = Sovgate_Settings::ca_bundle();
			if ( '' !== $ca ) {
				$args['sslcertificates'] = $ca;
			}
		}
		return $args;
	}

	/**
	 * Blocks or reports calls that cannot be rerouted, and sends calls without a cURL
	 * transport to the gateway itself.
	 *
	 * @param false|array|WP_Error $pre  A preemptive response.
	 * @param array                $args HTTP request arguments.
	 * @param string               $url  The request URL.
	 * @return false|array|WP_Error
	 */
	public static function pre_http_request( $pre, $args, $url ) {
		if ( false !== $pre || ! is_array( $args ) ) {
			return $pre;
		}
		if ( empty( $args[ self::ARG ] ) ) {
			$lost = self::lost_mark( $url );
			if ( $lost && Sovgate_Settings::enforcing() ) {
				return self::block( $lost, $url, 'mark_lost', __( 'the call\'s arguments lost Sovgate\'s mark (changed by another filter)', 'sovgate' ) );
			}
			return $pre;
		}
		$meta = $args[ self::ARG ];
		if ( empty( $meta['routed'] ) ) {
			$why = '' === Sovgate_Settings::gateway_base()
				? __( 'no gateway URL is configured', 'sovgate' )
				: __( 'no site key is configured', 'sovgate' );
			if ( Sovgate_Settings::enforcing() ) {
				return self::block( $meta, $url, 'not_configured', $why );
			}
			Sovgate_Events::record(
				'unrouted',
				$meta['host'],
				$meta['source'],
				/* translators: %s: why the call was not rerouted. */
				sprintf( __( 'sent to the provider (monitor mode): %s', 'sovgate' ), $why )
			);
			return false;
		}
		if ( Sovgate_Mapper::not_served( (string) $url ) ) {
			// An API the gateway does not speak (Replicate's, Hugging Face's own, TGI's
			// /generate, Azure ML's /score …): the gateway could only refuse it, and the
			// provider must not get it (both modes).
			return self::block( $meta, $url, 'not_served', self::not_served_reason() );
		}
		if ( ! self::curl_transport( $url ) || self::core_blocks( $url ) ) {
			return self::send_fallback( $args, $url );
		}
		return false;
	}

	/**
	 * A mark for a call to an AI host that arrived without one (another filter removed
	 * it after request_args() ran), or null for other hosts.
	 *
	 * @param string $url The request URL.
	 * @return array|null
	 */
	private static function lost_mark( $url ) {
		$host = Sovgate_Hosts::ai_host( (string) $url, Sovgate_Settings::get( 'hosts' ) );
		if ( null === $host ) {
			return null;
		}
		return array(
			'id'     => bin2hex( random_bytes( 8 ) ),
			'host'   => $host,
			'source' => Sovgate_Source::detect(),
			'routed' => false,
		);
	}

	/**
	 * Points the cURL handle of a marked call at the gateway.
	 *
	 * @param CurlHandle|resource $handle The cURL handle.
	 * @param array               $args   HTTP request arguments.
	 * @param string              $url    The request URL.
	 */
	public static function reroute_curl( $handle, $args, $url ) {
		if ( ! is_array( $args ) || empty( $args[ self::ARG ]['routed'] ) ) {
			return;
		}
		$meta = $args[ self::ARG ];
		if ( Sovgate_Mapper::not_served( (string) $url ) ) {
			// pre_http_request() refused it; a later filter let it through anyway.
			self::cannot_reroute( $handle, $meta, $url, self::not_served_reason(), true );
			return;
		}
		try {
			$target = self::target( $args, $url );
			self::apply_curl( $handle, $target );
			self::$rerouted[ $meta['id'] ] = $target;
		} catch ( \Throwable $e ) {
			self::cannot_reroute( $handle, $meta, $url, $e->getMessage() );
		}
	}

	/**
	 * After every other `http_api_curl` callback: the handle of a rerouted call still
	 * goes to the gateway with the site key (another callback may have changed the URL,
	 * headers or TLS checks); a marked call that was not rerouted is stopped (enforce).
	 * Write and header callbacks are left alone.
	 *
	 * @param CurlHandle|resource $handle The cURL handle.
	 * @param array               $args   HTTP request arguments.
	 * @param string              $url    The request URL.
	 */
	public static function recheck_curl( $handle, $args, $url ) {
		if ( ! is_array( $args ) ) {
			return;
		}
		if ( empty( $args[ self::ARG ] ) ) {
			$lost = self::lost_mark( $url );
			if ( $lost ) {
				self::cannot_reroute( $handle, $lost, $url, __( 'the call\'s arguments lost Sovgate\'s mark (changed by another filter)', 'sovgate' ) );
			}
			return;
		}
		if ( empty( $args[ self::ARG ]['routed'] ) ) {
			return;
		}
		$meta = $args[ self::ARG ];
		if ( isset( self::$killed[ $meta['id'] ] ) ) {
			self::kill( $handle );
			return;
		}
		if ( ! isset( self::$rerouted[ $meta['id'] ] ) ) {
			self::cannot_reroute( $handle, $meta, $url, __( 'the cURL handle was not rerouted', 'sovgate' ) );
			return;
		}
		try {
			self::apply_curl( $handle, self::$rerouted[ $meta['id'] ] );
		} catch ( \Throwable $e ) {
			self::cannot_reroute( $handle, $meta, $url, $e->getMessage() );
		}
	}

	/**
	 * Gives a failed rerouted call a clear error (the WP_Error object is changed in
	 * place: `http_api_debug` runs just before WordPress returns it).
	 *
	 * @param array|WP_Error $response HTTP response or error.
	 * @param string         $context  Context.
	 * @param string         $class    Transport class.
	 * @param array          $args     HTTP request arguments.
	 * @param string         $url      The request URL.
	 */
	public static function explain_error( $response, $context, $class, $args, $url ) {
		if ( 'response' !== $context || ! is_wp_error( $response ) ) {
			return;
		}
		$message = $response->get_error_message();
		if ( isset( self::$refused[ $message ] ) ) {
			// Refused by guard_request() before anything was sent to the AI host.
			$code = self::$refused[ $message ];
			unset( self::$refused[ $message ] );
			self::replace_error( $response, 'sovgate_blocked', $message, array( 'reason' => $code ) );
			return;
		}
		if ( ! is_array( $args ) || empty( $args[ self::ARG ]['routed'] ) ) {
			return;
		}
		$meta = $args[ self::ARG ];
		$id   = $meta['id'];
		if ( self::tls_message() === $response->get_error_message() ) {
			// Refused by guard_tls() before anything was sent.
			unset( self::$rerouted[ $id ] );
			$blocked = self::block( $meta, $url, 'tls_off', __( 'another plugin switched off TLS verification of the gateway connection', 'sovgate' ) );
			self::replace_error( $response, 'sovgate_blocked', $blocked->get_error_message(), $blocked->get_error_data() );
			return;
		}
		if ( isset( self::$killed[ $id ] ) ) {
			$reason = self::$killed[ $id ];
			unset( self::$killed[ $id ], self::$rerouted[ $id ] );
			self::replace_error( $response, 'sovgate_blocked', self::blocked_message( $meta, $reason ), array( 'host' => $meta['host'] ) );
			return;
		}
		if ( ! isset( self::$rerouted[ $id ] ) ) {
			return;
		}
		unset( self::$rerouted[ $id ] );
		$original = $response->get_error_message();
		$message  = self::gateway_error_message( $meta, $original );
		self::replace_error(
			$response,
			'sovgate_gateway_error',
			$message,
			array(
				'host'     => $meta['host'],
				'gateway'  => Sovgate_Settings::gateway_base(),
				'original' => $original,
			)
		);
		Sovgate_Events::record( 'gateway_error', $meta['host'], $meta['source'], $original );
	}

	/**
	 * The last word on the TLS settings of a call to the gateway (`requests.before_request`
	 * of WordPress's Requests library, last priority: after `sslverify`, `https_ssl_verify`
	 * and every other filter). The call is verified with the gateway's CA bundle, host
	 * name included. A callback that runs after this one and switches verification off
	 * does not get the call sent: the transport's first hook (cURL or fsockopen) sees the
	 * options the transport got and throws (WP_Http turns that into a WP_Error).
	 *
	 * @param string $url     The request URL.
	 * @param array  $headers Headers.
	 * @param mixed  $data    Body.
	 * @param string $type    Method.
	 * @param array  $options Requests options (changed in place).
	 */
	public static function guard_tls( &$url, &$headers, &$data, &$type, &$options ) {
		if ( ! is_array( $options ) || ! isset( $options['hooks'] ) || ! self::gateway_bound( (string) $url ) ) {
			return;
		}
		$ca                    = Sovgate_Settings::ca_bundle();
		$verify                = '' === $ca ? true : $ca;
		$options['verify']     = $verify;
		$options['verifyname'] = true;
		$check                 = static function () use ( &$options, $verify ) {
			if ( $verify !== ( $options['verify'] ?? null ) || false === ( $options['verifyname'] ?? true ) ) {
				$class = class_exists( '\WpOrg\Requests\Exception' ) ? '\WpOrg\Requests\Exception' : 'Requests_Exception';
				throw new $class( self::tls_message(), 'sovgate_tls' );
			}
		};
		$options['hooks']->register( 'curl.before_request', $check );
		$options['hooks']->register( 'fsockopen.before_request', $check );
	}

	/**
	 * The last look at every request WordPress hands to its Requests library
	 * (`requests.before_request`, last priority), with the URL Requests will connect to:
	 * after WordPress's own changes to it (wp_kses_bad_protocol() turns
	 * `javascript:https://api.openai.com/…` into `https://api.openai.com/…`), and for
	 * every redirect Requests follows inside one call (neither `http_request_args` nor
	 * `pre_http_request` see a redirect's URL, and `http_api_curl` is given the original
	 * one). A request to an AI host that Sovgate did not mark for it (or one marked for
	 * the gateway that a redirect sends elsewhere) is refused before the transport
	 * connects (enforce), or reported (monitor). A call marked for the gateway is held to
	 * WordPress's cURL transport, where it is rerouted.
	 *
	 * @param string $url     The request URL.
	 * @param array  $headers Headers.
	 * @param mixed  $data    Body.
	 * @param string $type    Method.
	 * @param array  $options Requests options (changed in place).
	 * @throws Requests_Exception When the request must not be sent.
	 */
	public static function guard_request( &$url, &$headers, &$data, &$type, &$options ) {
		if ( ! is_array( $options ) || ! isset( $options['hooks'] ) || ! is_object( $options['hooks'] ) ) {
			return;
		}
		$args = self::requests_args( $options['hooks'] );
		$meta = is_array( $args ) && ! empty( $args[ self::ARG ] ) && is_array( $args[ self::ARG ] ) ? $args[ self::ARG ] : null;
		if ( $meta && ! empty( $meta['routed'] ) && empty( $options['redirected'] ) && empty( $options['transport'] ) && self::requests_curl( (string) $url ) ) {
			// Rerouted on the cURL handle: no other transport (one a plugin added to
			// Requests) may take the call.
			$options['transport'] = class_exists( '\WpOrg\Requests\Transport\Curl' ) ? '\WpOrg\Requests\Transport\Curl' : 'Requests_Transport_cURL';
		}
		$checked = null;
		$check   = static function () use ( &$url, &$options, &$checked, $meta ) {
			// Again in the transport only when a later callback changed the URL.
			if ( $checked !== (string) $url ) {
				$checked = (string) $url;
				self::check_request( $checked, $options, $meta );
			}
		};
		$check();
		$options['hooks']->register( 'curl.before_request', $check );
		$options['hooks']->register( 'fsockopen.before_request', $check );
	}

	/**
	 * Refuses (enforce) or reports (monitor) a request to an AI host that is not on its
	 * way to the gateway (see guard_request()).
	 *
	 * @param string     $url     The URL Requests connects to.
	 * @param array      $options Requests options.
	 * @param array|null $meta    Sovgate's mark of the call, if any.
	 * @throws Requests_Exception When the request must not be sent.
	 */
	private static function check_request( $url, $options, $meta ) {
		$host = Sovgate_Hosts::ai_host( $url, Sovgate_Settings::get( 'hosts' ) );
		if ( null === $host ) {
			return;
		}
		$redirected = ! empty( $options['redirected'] );
		if ( $meta && ! $redirected && ( ! empty( $meta['routed'] ) || ! Sovgate_Settings::enforcing() ) ) {
			// Marked for this host: rerouted on the cURL handle, or sent to the provider
			// in monitor mode (pre_http_request() reported it).
			return;
		}
		if ( $redirected ) {
			$reason = __( 'a redirect led the call to this AI host', 'sovgate' );
			$code   = 'redirect';
		} elseif ( $meta ) {
			$reason = __( 'the call was not stopped before it was sent (pre_http_request)', 'sovgate' );
			$code   = 'not_stopped';
		} else {
			$reason = __( 'the call\'s URL was changed into an AI host\'s after Sovgate looked at it', 'sovgate' );
			$code   = 'url_changed';
		}
		$mark = array(
			'host'   => $host,
			'source' => Sovgate_Source::detect(),
		);
		if ( ! Sovgate_Settings::enforcing() && ! ( $meta && ! empty( $meta['routed'] ) ) ) {
			Sovgate_Events::record(
				'unrouted',
				$host,
				$mark['source'],
				/* translators: %s: why the call was not rerouted. */
				sprintf( __( 'sent to the provider (monitor mode): %s', 'sovgate' ), $reason )
			);
			return;
		}
		$message                   = self::block( $mark, $url, $code, $reason )->get_error_message();
		self::$refused[ $message ] = $code;
		$class                     = class_exists( '\WpOrg\Requests\Exception' ) ? '\WpOrg\Requests\Exception' : 'Requests_Exception';
		throw new $class( $message, 'sovgate_blocked' );
	}

	/**
	 * The HTTP API arguments of a request, from WordPress's Requests hooks object.
	 *
	 * @param object $hooks The Requests hooks of the request.
	 * @return array|null
	 */
	private static function requests_args( $hooks ) {
		if ( ! class_exists( 'WP_HTTP_Requests_Hooks' ) || ! $hooks instanceof WP_HTTP_Requests_Hooks ) {
			return null;
		}
		$read = \Closure::bind(
			function () {
				return $this->request ?? null;
			},
			$hooks,
			WP_HTTP_Requests_Hooks::class
		);
		$args = $read ? $read() : null;
		return is_array( $args ) ? $args : null;
	}

	/**
	 * Whether Requests' cURL transport can send a URL (without Sovgate's filter).
	 *
	 * @param string $url The request URL.
	 * @return bool
	 */
	private static function requests_curl( $url ) {
		$caps = array( 'ssl' => 0 === stripos( $url, 'https:' ) );
		if ( class_exists( '\WpOrg\Requests\Transport\Curl' ) ) {
			return (bool) \WpOrg\Requests\Transport\Curl::test( $caps );
		}
		return class_exists( 'Requests_Transport_cURL' ) && Requests_Transport_cURL::test( $caps );
	}

	/**
	 * Whether a request goes to the gateway: Sovgate's own calls and its fallback (the
	 * gateway's scheme, host and port), and, while Sovgate is configured, calls to AI hosts
	 * (rerouted on the cURL handle).
	 *
	 * @param string $url The request URL.
	 * @return bool
	 */
	private static function gateway_bound( $url ) {
		$gateway = Sovgate_Settings::gateway_base();
		if ( '' === $gateway ) {
			return false;
		}
		if ( Sovgate_Hosts::origin( $gateway ) === Sovgate_Hosts::origin( $url ) ) {
			return true;
		}
		return Sovgate_Settings::is_configured() && null !== Sovgate_Hosts::ai_host( $url, Sovgate_Settings::get( 'hosts' ) );
	}

	/**
	 * The error of a call to the gateway whose TLS verification was switched off.
	 *
	 * @return string
	 */
	public static function tls_message() {
		return __( 'Sovgate refused to send a call to its gateway: another plugin switched off TLS verification of the connection (a late requests-requests.before_request callback).', 'sovgate' );
	}

	/**
	 * Runs the site's `sovgate_response` filter on answers from the gateway.
	 *
	 * @param array  $response HTTP response.
	 * @param array  $args     HTTP request arguments.
	 * @param string $url      The request URL.
	 * @return array
	 */
	public static function response( $response, $args, $url ) {
		if ( ! is_array( $args ) || empty( $args[ self::ARG ]['routed'] ) || ! isset( self::$rerouted[ $args[ self::ARG ]['id'] ] ) ) {
			return $response;
		}
		unset( self::$rerouted[ $args[ self::ARG ]['id'] ] );
		return self::filter_response( $response, $args[ self::ARG ], $url );
	}

	/**
	 * Where a marked call goes: the gateway URL, the headers (credentials replaced, the
	 * Sovgate headers added) and the body (the model of an Azure deployment set).
	 *
	 * @param array  $args HTTP request arguments (marked).
	 * @param string $url  The provider URL.
	 * @return array{url: string, headers: array, body: mixed, body_changed: bool}
	 */
	public static function target( array $args, $url ) {
		$meta    = $args[ self::ARG ];
		$base    = Sovgate_Settings::gateway_base();
		$key     = (string) Sovgate_Settings::get( 'api_key' );
		$headers = $args['headers'] ?? array();
		if ( ! is_array( $headers ) ) {
			$processed = WP_Http::processHeaders( (string) $headers );
			$headers   = $processed['headers'];
		}
		if ( '' === $base || '' === $key ) {
			throw new RuntimeException( 'Sovgate is not configured' );
		}
		$map  = Sovgate_Mapper::map_path( (string) $url );
		$body = $args['body'] ?? null;
		$new  = null === $map['model'] ? $body : Sovgate_Mapper::with_model( $body, $map['model'] );
		$user = function_exists( 'get_current_user_id' ) ? get_current_user_id() : 0;
		return array(
			'url'          => $base . $map['path'],
			'headers'      => Sovgate_Mapper::map_headers(
				$headers,
				$key,
				array(
					'X-Sovgate-Source'   => $meta['source'],
					'X-Sovgate-User'     => Sovgate_Mapper::user_hash( $user, $user ? Sovgate_Settings::site_secret() : '' ),
					'X-Sovgate-Fields'   => Sovgate_Fields::site_header(),
					'X-Sovgate-Provider' => $meta['host'],
				)
			),
			'body'         => $new,
			'body_changed' => $new !== $body,
		);
	}

	/**
	 * Sets a cURL handle's URL, headers, body, protocol, redirect, proxy and TLS checks
	 * for the gateway.
	 *
	 * @param CurlHandle|resource $handle The cURL handle.
	 * @param array               $target From target().
	 * @throws RuntimeException When cURL refuses an option.
	 */
	private static function apply_curl( $handle, array $target ) {
		$https = 0 === stripos( $target['url'], 'https://' );
		$lines = Sovgate_Mapper::flatten( $target['headers'] );
		// No "Expect: 100-continue" round trip (as WordPress's Requests does).
		$lines[] = 'Expect:';
		/**
		 * Filters the proxy used to reach the gateway ('' connects directly, also when
		 * WP_PROXY_HOST or a proxy environment variable is set).
		 *
		 * @param string $proxy A cURL proxy string.
		 */
		$proxy = (string) apply_filters( 'sovgate_gateway_proxy', '' );
		$ok    = curl_setopt( $handle, CURLOPT_URL, $target['url'] )
			&& curl_setopt( $handle, CURLOPT_REFERER, $target['url'] )
			&& curl_setopt( $handle, CURLOPT_HTTPHEADER, $lines )
			&& curl_setopt( $handle, CURLOPT_PROTOCOLS, $https ? CURLPROTO_HTTPS : CURLPROTO_HTTP )
			&& curl_setopt( $handle, CURLOPT_FOLLOWLOCATION, false )
			&& curl_setopt( $handle, CURLOPT_PROXY, $proxy )
			&& curl_setopt( $handle, CURLOPT_SSL_VERIFYPEER, true )
			&& curl_setopt( $handle, CURLOPT_SSL_VERIFYHOST, 2 );
		if ( $ok && $target['body_changed'] ) {
			$ok = curl_setopt( $handle, CURLOPT_POSTFIELDS, $target['body'] );
		}
		if ( ! $ok ) {
			throw new RuntimeException( 'cURL refused an option' );
		}
	}

	/**
	 * A marked call whose handle could not be pointed at the gateway: stopped in
	 * enforce mode (or always), reported in monitor mode.
	 *
	 * @param CurlHandle|resource $handle The cURL handle.
	 * @param array               $meta   The mark.
	 * @param string              $url    The request URL.
	 * @param string              $why    What went wrong.
	 * @param bool                $always Stop it in monitor mode too.
	 */
	private static function cannot_reroute( $handle, array $meta, $url, $why, $always = false ) {
		unset( self::$rerouted[ $meta['id'] ] );
		if ( $always || Sovgate_Settings::enforcing() ) {
			self::$killed[ $meta['id'] ] = $why;
			self::kill( $handle );
			/** This action is documented in includes/class-sovgate-interceptor.php */
			do_action( 'sovgate_blocked', $url, $meta['source'], $why );
			Sovgate_Events::record( 'blocked', $meta['host'], $meta['source'], $why );
			return;
		}
		Sovgate_Events::record( 'unrouted', $meta['host'], $meta['source'], $why );
	}

	/**
	 * Makes a cURL handle fail before it resolves or connects to anything.
	 *
	 * @param CurlHandle|resource $handle The cURL handle.
	 */
	private static function kill( $handle ) {
		curl_setopt( $handle, CURLOPT_PROTOCOLS, 0 );
		curl_setopt( $handle, CURLOPT_URL, 'https://blocked.sovgate.invalid/' );
		curl_setopt( $handle, CURLOPT_HTTPHEADER, array() );
		curl_setopt( $handle, CURLOPT_POSTFIELDS, '' );
	}

	/**
	 * Blocks a call before it is sent.
	 *
	 * @param array  $meta   The mark.
	 * @param string $url    The request URL.
	 * @param string $code   A short reason code.
	 * @param string $reason Why (translated).
	 * @return WP_Error
	 */
	private static function block( array $meta, $url, $code, $reason ) {
		/**
		 * Fires when Sovgate blocks an AI call (enforce mode; a call in an API the
		 * gateway does not serve in monitor mode too).
		 *
		 * @param string $url    The provider URL.
		 * @param string $source The calling plugin's slug.
		 * @param string $reason Why it was blocked.
		 */
		do_action( 'sovgate_blocked', $url, $meta['source'], $reason );
		Sovgate_Events::record( 'blocked', $meta['host'], $meta['source'], $reason );
		return new WP_Error( 'sovgate_blocked', self::blocked_message( $meta, $reason ), array( 'reason' => $code ) );
	}

	/**
	 * Why a call in an API the gateway does not serve is refused.
	 *
	 * @return string
	 */
	private static function not_served_reason() {
		return __( 'the gateway does not serve this provider\'s own API (only its OpenAI-compatible chat, completions, embeddings and models endpoints are rerouted)', 'sovgate' );
	}

	/**
	 * The message of a blocked call.
	 *
	 * @param array  $meta   The mark.
	 * @param string $reason Why.
	 * @return string
	 */
	private static function blocked_message( array $meta, $reason ) {
		return sprintf(
			/* translators: 1: AI host, 2: calling plugin, 3: reason. */
			__( 'Sovgate blocked an AI call to %1$s from %2$s: %3$s. AI calls from this site go only through its Sovgate gateway.', 'sovgate' ),
			$meta['host'],
			$meta['source'],
			$reason
		);
	}

	/**
	 * The message of a call the gateway did not answer.
	 *
	 * @param array  $meta     The mark.
	 * @param string $original The transport's error.
	 * @return string
	 */
	private static function gateway_error_message( array $meta, $original ) {
		return sprintf(
			/* translators: 1: AI host, 2: gateway URL, 3: the transport's error message. */
			__( 'Sovgate: the AI call to %1$s failed because the AI gateway at %2$s could not be reached (%3$s). The call was not sent to the provider.', 'sovgate' ),
			$meta['host'],
			Sovgate_Settings::gateway_base(),
			$original
		);
	}

	/**
	 * Replaces every error of a WP_Error by one.
	 *
	 * @param WP_Error $error   The error (changed in place).
	 * @param string   $code    New code.
	 * @param string   $message New message.
	 * @param mixed    $data    New data.
	 */
	private static function replace_error( WP_Error $error, $code, $message, $data ) {
		foreach ( $error->get_error_codes() as $old ) {
			$error->remove( $old );
		}
		$error->add( $code, $message, $data );
	}

	/**
	 * Sends a marked call to the gateway with WordPress's other transport (no cURL) and
	 * returns the answer as the call's response.
	 *
	 * @param array  $args HTTP request arguments (marked).
	 * @param string $url  The provider URL.
	 * @return array|WP_Error
	 */
	private static function send_fallback( array $args, $url ) {
		$meta = $args[ self::ARG ];
		try {
			$target = self::target( $args, $url );
		} catch ( \Throwable $e ) {
			return self::block( $meta, $url, 'not_routable', $e->getMessage() );
		}
		$ca       = Sovgate_Settings::ca_bundle();
		$response = wp_remote_request(
			$target['url'],
			array(
				'method'              => $args['method'] ?? 'GET',
				'timeout'             => $args['timeout'] ?? 5,
				'redirection'         => 0,
				'httpversion'         => '1.1',
				'user-agent'          => $args['user-agent'] ?? '',
				'blocking'            => $args['blocking'] ?? true,
				'headers'             => $target['headers'],
				'body'                => $target['body'],
				'sslverify'           => true,
				'sslcertificates'     => '' !== $ca ? $ca : ( $args['sslcertificates'] ?? null ),
				'stream'              => $args['stream'] ?? false,
				'filename'            => $args['filename'] ?? null,
				'limit_response_size' => $args['limit_response_size'] ?? null,
				'decompress'          => $args['decompress'] ?? true,
			)
		);
		if ( is_wp_error( $response ) ) {
			$original = $response->get_error_message();
			Sovgate_Events::record( 'gateway_error', $meta['host'], $meta['source'], $original );
			return new WP_Error(
				'sovgate_gateway_error',
				self::gateway_error_message( $meta, $original ),
				array(
					'host'     => $meta['host'],
					'gateway'  => Sovgate_Settings::gateway_base(),
					'original' => $original,
				)
			);
		}
		return self::filter_response( $response, $meta, $url );
	}

	/**
	 * Applies `sovgate_response`.
	 *
	 * @param array  $response HTTP response.
	 * @param array  $meta     The mark.
	 * @param string $url      The provider URL.
	 * @return array
	 */
	private static function filter_response( $response, array $meta, $url ) {
		/**
		 * Filters an AI call's response from the gateway before the calling plugin gets it.
		 *
		 * @param array  $response HTTP response (`body`, `headers`, `response`, …).
		 * @param string $source   The calling plugin's slug.
		 * @param string $url      The provider URL the plugin called.
		 */
		return apply_filters( 'sovgate_response', $response, $meta['source'], $url );
	}

	/**
	 * Whether WordPress's Requests library will use cURL for this URL.
	 *
	 * @param string $url The request URL.
	 * @return bool
	 */
	public static function curl_transport( $url = 'https://example.com/' ) {
		$caps = array( 'ssl' => 0 === stripos( (string) $url, 'https:' ) );
		if ( class_exists( '\WpOrg\Requests\Transport\Curl' ) ) {
			$ok = \WpOrg\Requests\Transport\Curl::test( $caps );
		} elseif ( class_exists( 'Requests_Transport_cURL' ) ) {
			$ok = Requests_Transport_cURL::test( $caps );
		} else {
			$ok = false;
		}
		/**
		 * Filters whether AI calls are rerouted on the cURL handle (true) or sent by
		 * Sovgate itself through WordPress's other transport (false).
		 *
		 * @param bool $ok Whether Requests' cURL transport is available.
		 */
		return (bool) apply_filters( 'sovgate_use_curl', (bool) $ok );
	}

	/**
	 * Whether WP_HTTP_BLOCK_EXTERNAL would refuse the provider URL (the gateway is then
	 * called by Sovgate itself, and it must be an accessible host).
	 *
	 * @param string $url The request URL.
	 * @return bool
	 */
	private static function core_blocks( $url ) {
		if ( ! defined( 'WP_HTTP_BLOCK_EXTERNAL' ) || ! WP_HTTP_BLOCK_EXTERNAL ) {
			return false;
		}
		$http = new WP_Http();
		return $http->block_request( $url );
	}
}
