<?php
/**
 * AI host list: the defaults, parsing an admin's list, and matching a URL's host.
 *
 * Pure logic (no WordPress calls), unit tested in tests/wordpress/unit.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Host names whose HTTP calls are AI calls.
 */
final class Sovgate_Hosts {

	/**
	 * Hosts intercepted when the admin has not changed the list.
	 *
	 * @var string[]
	 */
	const DEFAULTS = array(
		'api.openai.com',
		'api.anthropic.com',
		'generativelanguage.googleapis.com',
		'api.mistral.ai',
		'api.cohere.com',
		'api.cohere.ai',
		'openrouter.ai',
		'api.groq.com',
		'api.deepseek.com',
		'api.x.ai',
		'api.together.xyz',
		'api.perplexity.ai',
		'*.openai.azure.com',
	);

	/**
	 * Normalizes a host name: lower case, no trailing dot, no IPv6 brackets.
	 *
	 * @param string $host A host as found in a URL.
	 * @return string The normalized host ('' when empty).
	 */
	public static function normalize( $host ) {
		$host = strtolower( trim( (string) $host ) );
		$host = trim( $host, '[]' );
		return rtrim( $host, '.' );
	}

	/**
	 * The normalized host of a URL ('' when it has none).
	 *
	 * @param string $url A URL.
	 * @return string
	 */
	public static function host_of( $url ) {
		$host = self::url_part( (string) $url, PHP_URL_HOST );
		return self::normalize( is_string( $host ) ? $host : '' );
	}

	/**
	 * One component of a URL, through wp_parse_url() where WordPress is loaded.
	 *
	 * @param string $url       A URL.
	 * @param int    $component A PHP_URL_* constant.
	 * @return mixed
	 */
	public static function url_part( $url, $component ) {
		if ( function_exists( 'wp_parse_url' ) ) {
			return wp_parse_url( $url, $component );
		}
		return parse_url( $url, $component ); // phpcs:ignore WordPress.WP.AlternativeFunctions.parse_url_parse_url -- outside WordPress (unit tests).
	}

	/**
	 * Parses an admin's host list (a string with one host per line or comma separated, or
	 * an array). Entries are host names or `*.domain` wildcards; anything else is dropped.
	 *
	 * @param string|array $raw The list.
	 * @param string[]     $invalid Receives the entries that were dropped.
	 * @return string[] The valid, normalized, unique patterns, in their order.
	 */
	public static function parse_list( $raw, &$invalid = array() ) {
		$invalid = array();
		if ( is_array( $raw ) ) {
			$items = $raw;
		} else {
			$items = preg_split( '/[\s,]+/', (string) $raw );
		}
		$out = array();
		foreach ( $items as $item ) {
			if ( ! is_string( $item ) ) {
				continue;
			}
			$item = self::normalize( $item );
			if ( '' === $item ) {
				continue;
			}
			if ( ! self::is_valid_pattern( $item ) ) {
				$invalid[] = $item;
				continue;
			}
			if ( ! in_array( $item, $out, true ) ) {
				$out[] = $item;
			}
		}
		return $out;
	}

	/**
	 * Whether a pattern is a host name or a `*.` wildcard over a domain with at least two
	 * labels (so `*.com` is refused).
	 *
	 * @param string $pattern A normalized pattern.
	 * @return bool
	 */
	public static function is_valid_pattern( $pattern ) {
		$label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
		if ( 0 === strpos( $pattern, '*.' ) ) {
			return (bool) preg_match( '/^' . $label . '(?:\.' . $label . ')+$/', substr( $pattern, 2 ) );
		}
		return strlen( $pattern ) <= 253 && (bool) preg_match( '/^' . $label . '(?:\.' . $label . ')*$/', $pattern );
	}

	/**
	 * Matches a host against patterns. `*.example.com` matches any host below
	 * example.com (one label or more), not example.com itself.
	 *
	 * @param string   $host     A host (normalized here).
	 * @param string[] $patterns Normalized patterns.
	 * @return string|null The pattern that matched, or null.
	 */
	public static function match( $host, array $patterns ) {
		$host = self::normalize( $host );
		if ( '' === $host ) {
			return null;
		}
		foreach ( $patterns as $pattern ) {
			if ( 0 === strpos( $pattern, '*.' ) ) {
				$suffix = substr( $pattern, 1 );
				if ( strlen( $host ) > strlen( $suffix ) && substr( $host, -strlen( $suffix ) ) === $suffix ) {
					return $pattern;
				}
			} elseif ( $host === $pattern ) {
				return $pattern;
			}
		}
		return null;
	}
}
