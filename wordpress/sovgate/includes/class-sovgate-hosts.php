<?php
/**
 * AI host list: the defaults, the limits of a list, parsing an admin's list, and matching
 * a URL's host.
 *
 * Pure logic (no WordPress calls; international names use PHP's intl or the IDNA encoder
 * of WordPress's Requests library), unit tested in tests/wordpress/unit.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Host names whose HTTP calls are AI calls.
 */
final class Sovgate_Hosts {

	/**
	 * Hosts intercepted when the admin has not changed the list: the providers' API hosts,
	 * OpenAI's regional ones (eu.api.openai.com …), Vertex AI's regional endpoints
	 * (us-central1-aiplatform.googleapis.com …), Azure's (Azure OpenAI, AI services, AI
	 * Foundry, the serverless model endpoints R.REGION.models.ai.azure.com and the model
	 * inference hosts such as models.inference.ai.azure.com), and Amazon Bedrock's regional
	 * endpoints (bedrock-runtime.eu-central-1.amazonaws.com …), Fireworks AI's other hosts
	 * (audio-prod.api.fireworks.ai …), GitHub Models (models.github.ai), Hugging Face
	 * Inference Endpoints (ID.REGION.CLOUD.endpoints.huggingface.cloud) and Azure Machine
	 * Learning online endpoints (ENDPOINT.REGION.inference.ml.azure.com). Replicate's API,
	 * Hugging Face's own inference APIs and every other API of these hosts but their
	 * OpenAI-compatible routes are refused rather than rerouted (see
	 * Sovgate_Mapper::NATIVE_APIS). A host added here reaches sites whose admin saved a
	 * list before (see effective()). The must-use loader keeps a
	 * copy (it runs when this file is missing; tests/wordpress/unit/LoaderTest.php keeps
	 * them in step).
	 *
	 * @var string[]
	 */
	const DEFAULTS = array(
		'api.openai.com',
		'*.api.openai.com',
		'api.anthropic.com',
		'generativelanguage.googleapis.com',
		'aiplatform.googleapis.com',
		'*-aiplatform.googleapis.com',
		'api.mistral.ai',
		'codestral.mistral.ai',
		'api.cohere.com',
		'api.cohere.ai',
		'openrouter.ai',
		'api.groq.com',
		'api.deepseek.com',
		'api.x.ai',
		'api.together.xyz',
		'api.perplexity.ai',
		'api.fireworks.ai',
		'*.api.fireworks.ai',
		'api.replicate.com',
		'api-inference.huggingface.co',
		'router.huggingface.co',
		'*.endpoints.huggingface.cloud',
		'models.github.ai',
		'*.openai.azure.com',
		'*.cognitiveservices.azure.com',
		'*.services.ai.azure.com',
		'*.models.ai.azure.com',
		'*.inference.ai.azure.com',
		'*.inference.ml.azure.com',
		'bedrock.*.amazonaws.com',
		'bedrock-runtime.*.amazonaws.com',
		'bedrock-runtime-fips.*.amazonaws.com',
		'bedrock-agent-runtime.*.amazonaws.com',
	);

	/**
	 * The most entries a host list may have (the defaults among them, duplicates counted).
	 * A list submitted on the settings page (or through update_option() while the settings
	 * are registered) with more is refused as a whole and the saved list kept; a list from
	 * code with more (SOVGATE_HOSTS, a stored option) loses no host but gets every default
	 * and is reported (see list_problem()).
	 *
	 * @var int
	 */
	const MAX_HOSTS = 200;

	/**
	 * The longest entry, in bytes: 253, the longest DNS name.
	 *
	 * @var int
	 */
	const MAX_LENGTH = 253;

	/**
	 * The longest list given as text, in bytes (64 KiB: MAX_HOSTS entries of MAX_LENGTH
	 * bytes and their line breaks fit); a longer text is not even split into entries.
	 *
	 * @var int
	 */
	const MAX_TEXT = 65536;

	/**
	 * Normalizes a host name or pattern: lower case, no trailing dots, no IPv6 brackets.
	 *
	 * @param string $host A host as found in a URL, or a pattern.
	 * @return string The normalized host ('' when empty).
	 */
	public static function normalize( $host ) {
		$host = strtolower( trim( (string) $host ) );
		$host = trim( $host, '[]' );
		return rtrim( $host, '.' );
	}

	/**
	 * A host as WordPress's HTTP transport connects to it: percent-decoded (Requests and
	 * cURL decode `api%2eopenai.com` to api.openai.com), lower case, without trailing dots
	 * and IPv6 brackets, an international name in its ASCII (xn--) form.
	 *
	 * @param string $host A host as found in a URL.
	 * @return string|null The host ('' when empty), or null when it cannot be read as a
	 *                     host name or IP address (callers fail closed).
	 */
	public static function canonical( $host ) {
		$host = self::normalize( rawurldecode( (string) $host ) );
		if ( '' === $host ) {
			return '';
		}
		if ( preg_match( '/[^\x00-\x7f]/', $host ) ) {
			$host = self::to_ascii( $host );
		}
		$label = '[a-z0-9_-]+';
		return null !== $host && preg_match( '/^(?:' . $label . '(?:\.' . $label . ')*|[0-9a-f:.]+)$/', $host ) ? $host : null;
	}

	/**
	 * An international host name in ASCII: with PHP's intl (UTS #46), or else the IDNA
	 * encoder of WordPress's Requests library (what Requests itself sends).
	 *
	 * @param string $host A lower-case host with non-ASCII characters.
	 * @return string|null
	 */
	private static function to_ascii( $host ) {
		if ( function_exists( 'idn_to_ascii' ) ) {
			$ascii = idn_to_ascii( $host, IDNA_DEFAULT, INTL_IDNA_VARIANT_UTS46 );
			return is_string( $ascii ) ? rtrim( strtolower( $ascii ), '.' ) : null;
		}
		if ( class_exists( '\WpOrg\Requests\IdnaEncoder' ) ) {
			$encoder = '\WpOrg\Requests\IdnaEncoder';
		} elseif ( class_exists( 'Requests_IDNAEncoder' ) ) {
			$encoder = 'Requests_IDNAEncoder';
		} else {
			return null;
		}
		try {
			return strtolower( $encoder::encode( $host ) );
		} catch ( \Throwable $e ) {
			return null;
		}
	}

	/**
	 * The canonical host of a URL.
	 *
	 * @param string $url A URL.
	 * @return string|null The host; '' when the URL has none (it is no http(s) URL); null
	 *                     when an http(s) URL's host cannot be read.
	 */
	public static function host_of( $url ) {
		$url  = (string) $url;
		$host = self::url_part( $url, PHP_URL_HOST );
		if ( ! is_string( $host ) || '' === $host ) {
			return preg_match( '#^\s*https?:#i', $url ) ? null : '';
		}
		return self::canonical( $host );
	}

	/**
	 * The AI host a URL calls, or null when it calls none. A URL whose host cannot be read
	 * counts as one (fail closed); its host is then given as found, printable.
	 *
	 * @param string   $url      A URL.
	 * @param string[] $patterns Normalized patterns.
	 * @return string|null
	 */
	public static function ai_host( $url, array $patterns ) {
		$host = self::host_of( $url );
		if ( null === $host ) {
			$raw = self::url_part( (string) $url, PHP_URL_HOST );
			$raw = is_string( $raw ) ? preg_replace( '/[^\x21-\x7e]/', '?', $raw ) : '';
			return '' === $raw ? 'unreadable-host' : $raw;
		}
		return null === self::match( $host, $patterns ) ? null : $host;
	}

	/**
	 * A URL's scheme, canonical host and port (`https://host:443`), or null.
	 *
	 * @param string $url A URL.
	 * @return string|null
	 */
	public static function origin( $url ) {
		$scheme = strtolower( (string) self::url_part( (string) $url, PHP_URL_SCHEME ) );
		$host   = self::host_of( $url );
		if ( ! in_array( $scheme, array( 'http', 'https' ), true ) || null === $host || '' === $host ) {
			return null;
		}
		$port = self::url_part( (string) $url, PHP_URL_PORT );
		return $scheme . '://' . $host . ':' . ( $port ? $port : ( 'https' === $scheme ? 443 : 80 ) );
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
	 * an array). Entries are host names or `*.domain` wildcards; anything else is dropped
	 * (so is a value that is neither a list nor a string).
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
			$items = preg_split( '/[\s,]+/', is_scalar( $raw ) ? (string) $raw : '' );
		}
		$out  = array();
		$have = array();
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
			// A set, not in_array(): a stored list may be long.
			if ( ! isset( $have[ $item ] ) ) {
				$have[ $item ] = true;
				$out[]         = $item;
			}
		}
		return $out;
	}

	/**
	 * What keeps a host list from being used as given, checked before it is parsed: it is
	 * neither a string nor an array, or an array holds something other than a string (a
	 * nested array, a number, null); or it is over the limits: text longer than MAX_TEXT
	 * bytes, more than MAX_HOSTS entries (blank ones not counted, duplicates counted), an
	 * entry longer than MAX_LENGTH bytes. Entries that are no host names are not its
	 * business (parse_list() leaves them out).
	 *
	 * @param mixed $raw   A list as parse_list() reads it.
	 * @param int   $count Receives how many entries were counted (all of them unless the
	 *                     problem is `type` or `text`).
	 * @return string '' when the list can be used; else `type`, `text`, `count` or
	 *                `length`.
	 */
	public static function list_problem( $raw, &$count = 0 ) {
		$count = 0;
		if ( is_string( $raw ) ) {
			if ( strlen( $raw ) > self::MAX_TEXT ) {
				return 'text';
			}
			$items = preg_split( '/[\s,]+/', $raw, -1, PREG_SPLIT_NO_EMPTY );
		} elseif ( is_array( $raw ) ) {
			$items = $raw;
		} else {
			return 'type';
		}
		$long = false;
		foreach ( $items as $item ) {
			if ( ! is_string( $item ) ) {
				return 'type';
			}
			$item = self::normalize( $item );
			if ( '' !== $item ) {
				++$count;
				$long = $long || strlen( $item ) > self::MAX_LENGTH;
			}
		}
		if ( $count > self::MAX_HOSTS ) {
			return 'count';
		}
		return $long ? 'length' : '';
	}

	/**
	 * The list in effect for a site's saved list: the saved list, then every default the
	 * admin had not seen when saving it (a host that a later version of Sovgate added), so
	 * that an update's new providers are intercepted at once while a default the admin
	 * removed stays removed and the admin's own hosts stay. Fails closed: a saved list that
	 * is not a list of strings or is over the limits (list_problem(); every host name on it
	 * is still kept, none is cut off), or a record of the seen defaults that is missing (a
	 * list saved by an older version of Sovgate), not a list of strings or longer than
	 * MAX_HOSTS, counts as having seen no default, so every default missing from the list
	 * is added.
	 *
	 * @param mixed    $saved The saved list as stored (an array of strings; a string with
	 *                        one host per line is read too); null when none was saved (the
	 *                        defaults apply).
	 * @param mixed    $seen  The defaults shown when the list was saved, as stored (an array
	 *                        of strings); null when none were recorded.
	 * @param string[] $added Receives the defaults added to the saved list, in their order.
	 * @return string[] The valid, normalized, unique patterns in effect.
	 */
	public static function effective( $saved, $seen, &$added = array() ) {
		$added = array();
		if ( null === $saved ) {
			return self::DEFAULTS;
		}
		$readable = '' === self::list_problem( $saved );
		$list     = is_string( $saved ) || is_array( $saved ) ? self::parse_list( $saved ) : array();
		$known    = array();
		if ( $readable && is_array( $seen ) && count( $seen ) <= self::MAX_HOSTS && self::strings_only( $seen ) ) {
			// Exactly as recorded (defaults_in() writes the defaults as they are): a record
			// that was changed by hand hides no default by accident.
			foreach ( $seen as $host ) {
				$known[ $host ] = true;
			}
		}
		foreach ( $list as $host ) {
			$known[ $host ] = true;
		}
		foreach ( self::DEFAULTS as $host ) {
			if ( ! isset( $known[ $host ] ) ) {
				$added[] = $host;
			}
		}
		return array_merge( $list, $added );
	}

	/**
	 * The defaults among a list of hosts (what to record as the defaults an admin saw).
	 *
	 * @param mixed $raw A list as parse_list() reads it; anything else is no list, and so
	 *                   is text longer than MAX_TEXT bytes or an array of more than
	 *                   MAX_HOSTS items (none recorded: fail closed).
	 * @return string[] The defaults found in it, in the defaults' order.
	 */
	public static function defaults_in( $raw ) {
		if ( is_string( $raw ) ? strlen( $raw ) > self::MAX_TEXT : ( ! is_array( $raw ) || count( $raw ) > self::MAX_HOSTS ) ) {
			return array();
		}
		return array_values( array_intersect( self::DEFAULTS, self::parse_list( $raw ) ) );
	}

	/**
	 * Whether every item of an array is a string.
	 *
	 * @param array $items Items.
	 * @return bool
	 */
	private static function strings_only( array $items ) {
		foreach ( $items as $item ) {
			if ( ! is_string( $item ) ) {
				return false;
			}
		}
		return true;
	}

	/**
	 * Whether a pattern is a host name, a `*.` wildcard over a domain with at least two
	 * labels (so `*.com` is refused), a `*-` wildcard over the end of a first label
	 * followed by a domain (`*-aiplatform.googleapis.com`), or a whole label in the
	 * middle (`bedrock-runtime.*.amazonaws.com`, one label in place of `*`, the domain
	 * after it with at least two labels); in each case at most MAX_LENGTH (253) characters,
	 * the longest host name.
	 *
	 * @param string $pattern A normalized pattern.
	 * @return bool
	 */
	public static function is_valid_pattern( $pattern ) {
		if ( strlen( $pattern ) > self::MAX_LENGTH ) {
			return false;
		}
		$label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
		if ( 0 < (int) strpos( $pattern, '*' ) ) {
			return (bool) preg_match( '/^' . $label . '(?:\.' . $label . ')*\.\*(?:\.' . $label . '){2,}$/', $pattern );
		}
		if ( 0 === strpos( $pattern, '*.' ) ) {
			return (bool) preg_match( '/^' . $label . '(?:\.' . $label . ')+$/', substr( $pattern, 2 ) );
		}
		if ( 0 === strpos( $pattern, '*-' ) ) {
			return (bool) preg_match( '/^[a-z0-9-]*[a-z0-9](?:\.' . $label . ')+$/', substr( $pattern, 2 ) );
		}
		return (bool) preg_match( '/^' . $label . '(?:\.' . $label . ')*$/', $pattern );
	}

	/**
	 * Matches a host against patterns. `*.example.com` matches any host below
	 * example.com (one label or more), not example.com itself; `*-llm.example.com` any
	 * host that ends in `-llm.example.com`, not that itself; `llm.*.example.com` any host
	 * with exactly one label between `llm.` and `.example.com`.
	 *
	 * @param string   $host     A host (made canonical here).
	 * @param string[] $patterns Normalized patterns.
	 * @return string|null The pattern that matched, or null (also for an unreadable host:
	 *                     see ai_host()).
	 */
	public static function match( $host, array $patterns ) {
		$host = self::canonical( $host );
		if ( null === $host || '' === $host ) {
			return null;
		}
		foreach ( $patterns as $pattern ) {
			$star = strpos( $pattern, '*' );
			if ( 0 === $star ) {
				$suffix = substr( $pattern, 1 );
				if ( strlen( $host ) > strlen( $suffix ) && substr( $host, -strlen( $suffix ) ) === $suffix ) {
					return $pattern;
				}
			} elseif ( false !== $star ) {
				$prefix = substr( $pattern, 0, $star );
				$suffix = substr( $pattern, $star + 1 );
				$middle = strlen( $host ) - strlen( $prefix ) - strlen( $suffix );
				if ( $middle > 0 && 0 === strpos( $host, $prefix ) && substr( $host, -strlen( $suffix ) ) === $suffix && false === strpos( substr( $host, strlen( $prefix ), $middle ), '.' ) ) {
					return $pattern;
				}
			} elseif ( $host === $pattern ) {
				return $pattern;
			}
		}
		return null;
	}
}
