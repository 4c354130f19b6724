<?php
/**
 * Finds the plugin or theme that made an HTTP call, from the call stack.
 *
 * Pure logic over frames and folders (no WordPress calls in from_frames()), unit tested
 * in tests/wordpress/unit.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Source detection.
 */
final class Sovgate_Source {

	/**
	 * The source of calls made by WordPress itself (no plugin or theme on the stack).
	 */
	const CORE = 'wordpress';

	/**
	 * The source when the stack names nothing known.
	 */
	const UNKNOWN = 'unknown';

	/**
	 * The slug of the innermost plugin, must-use plugin or theme on the stack, skipping
	 * Sovgate's own files: `my-plugin` for a plugin (folder name, or file name without
	 * `.php` for a single-file plugin), `mu-plugin:name` for a must-use plugin,
	 * `theme:name` for a theme. WordPress's own files give `wordpress`.
	 *
	 * @param array $frames Frames as debug_backtrace() returns them (innermost first).
	 * @param array $dirs   Folders: plugins (string), mu_plugins (string), themes
	 *                      (string[]), self (string[]: Sovgate's own folders and files),
	 *                      abspath (string), realpaths (array: plugin folder => its real
	 *                      folder, WordPress's $wp_plugin_paths for symlinked plugins).
	 * @return string A slug of at most 64 characters of [a-z0-9._:-].
	 */
	public static function from_frames( array $frames, array $dirs ) {
		$plugins   = self::dir( $dirs['plugins'] ?? '' );
		$mu        = self::dir( $dirs['mu_plugins'] ?? '' );
		$themes    = array_filter( array_map( array( __CLASS__, 'dir' ), (array) ( $dirs['themes'] ?? array() ) ) );
		$own       = array_filter( array_map( array( __CLASS__, 'path' ), (array) ( $dirs['self'] ?? array() ) ) );
		$abspath   = self::dir( $dirs['abspath'] ?? '' );
		$realpaths = array();
		foreach ( (array) ( $dirs['realpaths'] ?? array() ) as $link => $real ) {
			$realpaths[ self::dir( (string) $real ) ] = self::dir( (string) $link );
		}
		$core = false;
		foreach ( $frames as $frame ) {
			if ( empty( $frame['file'] ) || ! is_string( $frame['file'] ) ) {
				continue;
			}
			$file = self::path( $frame['file'] );
			// Code run by eval() reports "FILE(LINE) : eval()'d code".
			$file = preg_replace( '/\(\d+\) : .*$/', '', $file );
			foreach ( $realpaths as $real => $link ) {
				if ( 0 === strpos( $file, $real ) ) {
					$file = $link . substr( $file, strlen( $real ) );
					break;
				}
			}
			if ( self::is_own( $file, $own ) ) {
				continue;
			}
			if ( '' !== $mu && 0 === strpos( $file, $mu ) ) {
				return self::clean( 'mu-plugin:' . self::first_segment( substr( $file, strlen( $mu ) ) ) );
			}
			if ( '' !== $plugins && 0 === strpos( $file, $plugins ) ) {
				return self::clean( self::first_segment( substr( $file, strlen( $plugins ) ) ) );
			}
			foreach ( $themes as $root ) {
				if ( 0 === strpos( $file, $root ) ) {
					return self::clean( 'theme:' . self::first_segment( substr( $file, strlen( $root ) ) ) );
				}
			}
			if ( '' !== $abspath && 0 === strpos( $file, $abspath ) ) {
				$core = true;
			}
		}
		return $core ? self::CORE : self::UNKNOWN;
	}

	/**
	 * The source of the current call, from debug_backtrace() and WordPress's folders.
	 *
	 * @return string
	 */
	public static function detect() {
		global $wp_plugin_paths;
		$themes = array();
		if ( function_exists( 'get_theme_root' ) ) {
			$themes[] = get_theme_root();
		}
		if ( ! empty( $GLOBALS['wp_theme_directories'] ) ) {
			$themes = array_merge( $themes, (array) $GLOBALS['wp_theme_directories'] );
		}
		$frames = debug_backtrace( DEBUG_BACKTRACE_IGNORE_ARGS ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_debug_backtrace -- the call stack is how the calling plugin is found.
		return self::from_frames(
			$frames,
			array(
				'plugins'    => defined( 'WP_PLUGIN_DIR' ) ? WP_PLUGIN_DIR : '',
				'mu_plugins' => defined( 'WPMU_PLUGIN_DIR' ) ? WPMU_PLUGIN_DIR : '',
				'themes'     => array_unique( $themes ),
				'self'       => self::own_paths(),
				'abspath'    => ABSPATH,
				'realpaths'  => is_array( $wp_plugin_paths ) ? $wp_plugin_paths : array(),
			)
		);
	}

	/**
	 * Sovgate's own folder (as loaded and as linked) and its must-use loader.
	 *
	 * @return string[]
	 */
	public static function own_paths() {
		$paths = array( SOVGATE_DIR );
		if ( defined( 'WP_PLUGIN_DIR' ) ) {
			$paths[] = WP_PLUGIN_DIR . '/' . basename( SOVGATE_DIR ) . '/';
		}
		if ( defined( 'WPMU_PLUGIN_DIR' ) ) {
			$paths[] = WPMU_PLUGIN_DIR . '/sovgate-loader.php';
		}
		return $paths;
	}

	/**
	 * Whether a file is one of Sovgate's own (a folder given with a trailing slash
	 * matches everything below it; a file matches itself).
	 *
	 * @param string   $file Normalized file.
	 * @param string[] $own  Normalized paths.
	 * @return bool
	 */
	private static function is_own( $file, array $own ) {
		foreach ( $own as $path ) {
			if ( '/' === substr( $path, -1 ) ? 0 === strpos( $file, $path ) : $file === $path ) {
				return true;
			}
		}
		return false;
	}

	/**
	 * The first path segment (a single-file plugin's file name loses `.php`).
	 *
	 * @param string $rest A path relative to a folder.
	 * @return string
	 */
	private static function first_segment( $rest ) {
		$rest  = ltrim( $rest, '/' );
		$slash = strpos( $rest, '/' );
		if ( false === $slash ) {
			return preg_replace( '/\.php$/i', '', $rest );
		}
		return substr( $rest, 0, $slash );
	}

	/**
	 * A slug in the characters the gateway logs ([a-z0-9._:-]), at most 64 of them.
	 *
	 * @param string $slug Slug.
	 * @return string
	 */
	public static function clean( $slug ) {
		$slug = preg_replace( '/[^a-z0-9._:-]+/', '-', strtolower( (string) $slug ) );
		$slug = substr( trim( $slug, '-' ), 0, 64 );
		return '' === $slug || ':' === substr( $slug, -1 ) ? self::UNKNOWN : $slug;
	}

	/**
	 * A path with forward slashes and no duplicate slashes.
	 *
	 * @param string $path Path.
	 * @return string
	 */
	private static function path( $path ) {
		$path = str_replace( '\\', '/', (string) $path );
		return (string) preg_replace( '#/+#', '/', $path );
	}

	/**
	 * A folder with exactly one trailing slash ('' stays '').
	 *
	 * @param string $dir Folder.
	 * @return string
	 */
	private static function dir( $dir ) {
		$dir = self::path( $dir );
		return '' === $dir ? '' : rtrim( $dir, '/' ) . '/';
	}
}
