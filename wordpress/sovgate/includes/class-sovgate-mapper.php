<?php
/**
 * Maps a provider request onto the gateway: URL and path (Azure deployments included),
 * credential headers, Sovgate headers, and the model of Azure requests.
 *
 * Pure logic (no WordPress calls), unit tested in tests/wordpress/unit.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Request mapping.
 */
final class Sovgate_Mapper {

	/**
	 * Headers that carry a provider credential (lower case). They are never sent on:
	 * OpenAI-style bearer tokens (and AWS Signature V4), Anthropic's, Azure OpenAI's,
	 * Google's, Azure AI services' subscription key, an AWS session token.
	 *
	 * @var string[]
	 */
	const CREDENTIAL_HEADERS = array( 'authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'ocp-apim-subscription-key', 'x-amz-security-token' );

	/**
	 * Other headers dropped: the provider account's identifiers (OpenAI's, Hugging Face's
	 * billing organization), headers only the plugin may set (a caller must not claim
	 * another source), and framing that cURL computes.
	 *
	 * @var string[]
	 */
	const DROPPED_HEADERS = array(
		'openai-organization',
		'openai-project',
		'x-hf-bill-to',
		'x-sovgate-source',
		'x-sovgate-user',
		'x-sovgate-fields',
		'x-sovgate-provider',
		'host',
		'content-length',
		'transfer-encoding',
		'cookie',
		'proxy-authorization',
	);

	/**
	 * Query parameters that may carry a provider key or only mean something to a provider.
	 *
	 * @var string[]
	 */
	const DROPPED_QUERY = array( 'key', 'api_key', 'api-key', 'api-version' );

	/**
	 * OpenAI endpoints, found at the end of a provider's path.
	 *
	 * @var string
	 */
	const OPENAI_ENDPOINTS = 'chat/completions|completions|embeddings|models';

	/**
	 * AI hosts whose own API the gateway does not speak, so that a call in that API is
	 * refused by the plugin (enforce and monitor mode) instead of being sent anywhere:
	 * host or wildcard (the patterns of Sovgate_Hosts::match(): `*.domain` matches every
	 * host below domain, not domain itself) => which of its calls are rerouted to the
	 * gateway:
	 *
	 * - false: none (Replicate: its prediction API only).
	 * - true: every path that map_path() maps onto /v1/chat/completions, /v1/completions,
	 *   /v1/embeddings or /v1/models (Hugging Face's serverless inference and router have
	 *   OpenAI-compatible routes beside their own task API: `/models/ID`,
	 *   `/pipeline/TASK/ID`, `/hf-inference/models/ID` …; Fireworks' other hosts, such as
	 *   its audio hosts `audio-prod.api.fireworks.ai`, serve its audio API).
	 * - a regular expression: only paths (the URL's raw path, `/` when empty) that it
	 *   matches and that map_path() maps onto one of those endpoints. GitHub Models:
	 *   `/inference/chat/completions`, `/inference/embeddings` and the same below
	 *   `/orgs/ORG` (not its model catalog, `/catalog/models`, whose listing is not
	 *   OpenAI's). Hugging Face Inference Endpoints (TGI, TEI, vLLM) and Azure Machine
	 *   Learning online endpoints: `/v1/…` only (not TGI's `/`, `/generate`,
	 *   `/generate_stream`, `/invocations`, TEI's `/embed`, Azure ML's `/score`, nor other
	 *   paths the endpoint's own code may answer).
	 *
	 * @var array<string, bool|string>
	 */
	const NATIVE_APIS = array(
		'api.replicate.com'             => false,
		'api-inference.huggingface.co'  => true,
		'router.huggingface.co'         => true,
		'*.api.fireworks.ai'            => true,
		'models.github.ai'              => '#^(?:/orgs/[A-Za-z0-9](?:[A-Za-z0-9-]{0,98}[A-Za-z0-9])?)?/inference/(?:chat/completions|embeddings)/?$#',
		'*.endpoints.huggingface.cloud' => '#^/v1/(?:chat/completions|completions|embeddings|models)/?$#',
		'*.inference.ml.azure.com'      => '#^/v1/(?:chat/completions|completions|embeddings|models)/?$#',
	);

	/**
	 * The gateway's base URL without a trailing slash or `/v1` (both are accepted in the
	 * settings, since clients are told the OpenAI base URL ends in /v1).
	 *
	 * @param string $url The configured gateway URL.
	 * @return string
	 */
	public static function gateway_base( $url ) {
		$url = rtrim( trim( (string) $url ), '/' );
		if ( '/v1' === substr( $url, -3 ) ) {
			$url = substr( $url, 0, -3 );
		}
		return rtrim( $url, '/' );
	}

	/**
	 * Maps a provider URL to the path and query to ask the gateway, and the model an Azure
	 * deployment path names.
	 *
	 * - `https://R.openai.azure.com/openai/deployments/D/chat/completions?api-version=V`
	 *   becomes `/v1/chat/completions` with model D (also completions and embeddings);
	 *   Azure's `/openai/v1/...` becomes `/v1/...`.
	 * - Hugging Face's `/models/ORG/NAME/v1/chat/completions` (also under
	 *   `/hf-inference`) becomes `/v1/chat/completions` with model ORG/NAME.
	 * - A path ending in an OpenAI endpoint (`/v1/chat/completions`,
	 *   `/api/v1/chat/completions`, `/openai/v1/embeddings`, `/chat/completions` …) becomes
	 *   `/v1/<endpoint>`, without a query.
	 * - Any other path (a provider's own dialect, e.g. `/v1/messages`) is kept, without the
	 *   query parameters that may hold a key.
	 *
	 * @param string $url The provider URL.
	 * @return array{path: string, model: string|null, dialect: bool} dialect is true when
	 *               the path was kept as it is.
	 */
	public static function map_path( $url ) {
		$path  = (string) Sovgate_Hosts::url_part( $url, PHP_URL_PATH );
		$query = (string) Sovgate_Hosts::url_part( $url, PHP_URL_QUERY );
		if ( '' === $path ) {
			$path = '/';
		}
		$ep = self::OPENAI_ENDPOINTS;
		if ( preg_match( '#^/openai/deployments/([^/]+)/(chat/completions|completions|embeddings)/?$#', $path, $m ) ) {
			return array(
				'path'    => '/v1/' . $m[2],
				'model'   => rawurldecode( $m[1] ),
				'dialect' => false,
			);
		}
		if ( preg_match( '#^(?:/hf-inference)?/models/([A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)?)/v1/(chat/completions|completions|embeddings)/?$#', $path, $m ) ) {
			return array(
				'path'    => '/v1/' . $m[2],
				'model'   => $m[1],
				'dialect' => false,
			);
		}
		if ( preg_match( '#^(?:/[A-Za-z0-9._-]+)*?/(' . $ep . ')/?$#', $path, $m ) ) {
			return array(
				'path'    => '/v1/' . $m[1],
				'model'   => null,
				'dialect' => false,
			);
		}
		$kept = self::filter_query( $query );
		return array(
			'path'    => $path . ( '' === $kept ? '' : '?' . $kept ),
			'model'   => null,
			'dialect' => true,
		);
	}

	/**
	 * Whether a URL calls an AI host in an API the gateway does not serve (NATIVE_APIS,
	 * exact hosts and wildcards, the host compared as WordPress connects to it): any call
	 * to a host without OpenAI-compatible endpoints, and a call to another endpoint of a
	 * host with them (or to a path outside the host's OpenAI-compatible routes). Such
	 * calls are refused, never rerouted or sent.
	 *
	 * @param string $url The provider URL.
	 * @return bool
	 */
	public static function not_served( $url ) {
		$url  = (string) $url;
		$host = Sovgate_Hosts::host_of( $url );
		if ( null === $host || '' === $host ) {
			return false;
		}
		$pattern = Sovgate_Hosts::match( $host, array_keys( self::NATIVE_APIS ) );
		if ( null === $pattern ) {
			return false;
		}
		$routes = self::NATIVE_APIS[ $pattern ];
		if ( false === $routes || self::map_path( $url )['dialect'] ) {
			return true;
		}
		if ( is_string( $routes ) ) {
			$path = (string) Sovgate_Hosts::url_part( $url, PHP_URL_PATH );
			return 1 !== preg_match( $routes, '' === $path ? '/' : $path );
		}
		return true !== $routes;
	}

	/**
	 * A query string without the parameters in DROPPED_QUERY.
	 *
	 * @param string $query The query (without `?`).
	 * @return string
	 */
	public static function filter_query( $query ) {
		if ( '' === $query ) {
			return '';
		}
		$kept = array();
		foreach ( explode( '&', $query ) as $pair ) {
			$name = strtolower( rawurldecode( (string) strstr( $pair . '=', '=', true ) ) );
			if ( '' !== $pair && ! in_array( $name, self::DROPPED_QUERY, true ) ) {
				$kept[] = $pair;
			}
		}
		return implode( '&', $kept );
	}

	/**
	 * The headers to send to the gateway: the caller's headers without credentials and
	 * dropped headers, then `Authorization: Bearer KEY` and the Sovgate headers. Header
	 * names and values with line breaks or other control characters are dropped.
	 *
	 * @param array  $headers The caller's headers (name => value, or a list of "Name: value").
	 * @param string $key     The site's gateway key.
	 * @param array  $extra   Sovgate headers (name => value); empty values are left out.
	 * @return array Name => value.
	 */
	public static function map_headers( array $headers, $key, array $extra = array() ) {
		$out = array();
		foreach ( self::normalize_headers( $headers ) as $name => $value ) {
			$lower = strtolower( $name );
			if ( in_array( $lower, self::CREDENTIAL_HEADERS, true ) || in_array( $lower, self::DROPPED_HEADERS, true ) ) {
				continue;
			}
			$out[ $name ] = $value;
		}
		$out['Authorization'] = 'Bearer ' . $key;
		foreach ( $extra as $name => $value ) {
			if ( '' !== (string) $value && self::is_safe_header( $name, (string) $value ) ) {
				$out[ $name ] = (string) $value;
			}
		}
		return $out;
	}

	/**
	 * Headers as name => value, from an associative array (values may be arrays: joined
	 * with ", ") or a list of "Name: value" lines. Unsafe entries are dropped.
	 *
	 * @param array $headers Headers.
	 * @return array
	 */
	public static function normalize_headers( array $headers ) {
		$out = array();
		foreach ( $headers as $name => $value ) {
			if ( is_int( $name ) ) {
				if ( ! is_string( $value ) || false === strpos( $value, ':' ) ) {
					continue;
				}
				list( $name, $value ) = explode( ':', $value, 2 );
			}
			if ( is_array( $value ) ) {
				$value = implode( ', ', array_map( 'strval', $value ) );
			}
			$name  = trim( (string) $name );
			$value = trim( (string) $value );
			if ( self::is_safe_header( $name, $value ) ) {
				$out[ $name ] = $value;
			}
		}
		return $out;
	}

	/**
	 * Whether a header name is a token and its value has no control characters.
	 *
	 * @param string $name  Name.
	 * @param string $value Value.
	 * @return bool
	 */
	public static function is_safe_header( $name, $value ) {
		return (bool) preg_match( '/^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$/', (string) $name ) &&
			! preg_match( '/[\x00-\x08\x0a-\x1f\x7f]/', (string) $value );
	}

	/**
	 * "Name: value" lines for CURLOPT_HTTPHEADER.
	 *
	 * @param array $headers Name => value.
	 * @return string[]
	 */
	public static function flatten( array $headers ) {
		$lines = array();
		foreach ( $headers as $name => $value ) {
			$lines[] = $name . ': ' . $value;
		}
		return $lines;
	}

	/**
	 * Sets `model` in a JSON request body (Azure requests name the model in the path).
	 * A body that is not a JSON object is returned unchanged.
	 *
	 * @param mixed  $body  The request body.
	 * @param string $model The model.
	 * @return mixed
	 */
	public static function with_model( $body, $model ) {
		if ( ! is_string( $body ) || '' === $body ) {
			return $body;
		}
		$json = json_decode( $body, true );
		if ( ! is_array( $json ) || ( array() !== $json && array_is_list( $json ) ) ) {
			return $body;
		}
		$json['model'] = (string) $model;
		$out           = json_encode( $json, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION ); // phpcs:ignore WordPress.WP.AlternativeFunctions.json_encode_json_encode -- also used outside WordPress.
		return false === $out ? $body : $out;
	}

	/**
	 * The keyed hash sent as X-Sovgate-User: 32 hex digits of HMAC-SHA-256 over the user
	 * id, so the gateway can tell users apart without learning who they are.
	 *
	 * @param int    $user_id WordPress user id (0 for visitors: no hash).
	 * @param string $secret  The site's secret.
	 * @return string '' for user 0.
	 */
	public static function user_hash( $user_id, $secret ) {
		$user_id = (int) $user_id;
		if ( $user_id <= 0 || '' === (string) $secret ) {
			return '';
		}
		return substr( hash_hmac( 'sha256', 'wp-user:' . $user_id, (string) $secret ), 0, 32 );
	}
}
