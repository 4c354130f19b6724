<?php
/**
 * Source detection from real backtraces of code in plugin, must-use plugin and theme
 * folders (written to a temporary WordPress-like tree).
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class SourceTest extends TestCase {

	/**
	 * The temporary tree.
	 *
	 * @var string
	 */
	private static $root;

	/**
	 * Counter for unique function names.
	 *
	 * @var int
	 */
	private static $n = 0;

	public static function setUpBeforeClass(): void {
		self::$root = sys_get_temp_dir() . '/sovgate-source-' . getmypid() . '-' . bin2hex( random_bytes( 4 ) );
		foreach ( array( 'wp/wp-includes', 'wp/wp-content/plugins/shop-ai/lib', 'wp/wp-content/plugins/sovgate/includes', 'wp/wp-content/mu-plugins', 'wp/wp-content/themes/storefront', 'real/linked-ai' ) as $dir ) {
			mkdir( self::$root . '/' . $dir, 0777, true );
		}
		symlink( self::$root . '/real/linked-ai', self::$root . '/wp/wp-content/plugins/linked-ai' );
	}

	public static function tearDownAfterClass(): void {
		exec( 'rm -rf ' . escapeshellarg( self::$root ) );
	}

	/**
	 * Writes a PHP file defining a function that calls $next, and returns its name.
	 *
	 * @param string $file File relative to the root.
	 * @param string $next Function to call ('' to return the backtrace).
	 * @return string
	 */
	private static function frame( $file, $next ) {
		$name = 'sovgate_test_frame_' . ( ++self::$n );
		$call = '' === $next ? 'debug_backtrace( DEBUG_BACKTRACE_IGNORE_ARGS )' : $next . '()';
		file_put_contents( self::$root . '/' . $file, "<?php\nfunction $name() {\n\treturn $call;\n}\n" );
		require self::$root . '/' . $file;
		return $name;
	}

	/**
	 * The folders as WordPress would give them.
	 *
	 * @return array
	 */
	private static function dirs() {
		$wp = self::$root . '/wp';
		return array(
			'plugins'    => $wp . '/wp-content/plugins',
			'mu_plugins' => $wp . '/wp-content/mu-plugins',
			'themes'     => array( $wp . '/wp-content/themes' ),
			'self'       => array( $wp . '/wp-content/plugins/sovgate/', $wp . '/wp-content/mu-plugins/sovgate-loader.php' ),
			'abspath'    => $wp . '/',
			'realpaths'  => array( $wp . '/wp-content/plugins/linked-ai' => self::$root . '/real/linked-ai' ),
		);
	}

	public function test_the_innermost_plugin_outside_sovgate_is_the_source() {
		// shop-ai/lib/client.php calls WordPress's HTTP API, which calls Sovgate's filter.
		$sovgate = self::frame( 'wp/wp-content/plugins/sovgate/includes/filter.php', '' );
		$core    = self::frame( 'wp/wp-includes/http.php', $sovgate );
		$client  = self::frame( 'wp/wp-content/plugins/shop-ai/lib/client.php', $core );
		$theme   = self::frame( 'wp/wp-content/themes/storefront/functions.php', $client );
		$this->assertSame( 'shop-ai', Sovgate_Source::from_frames( $theme(), self::dirs() ) );
	}

	public function test_themes_mu_plugins_single_files_and_core() {
		$core  = self::frame( 'wp/wp-includes/http2.php', '' );
		$theme = self::frame( 'wp/wp-content/themes/storefront/ai.php', $core );
		$this->assertSame( 'theme:storefront', Sovgate_Source::from_frames( $theme(), self::dirs() ) );

		$core2 = self::frame( 'wp/wp-includes/http3.php', '' );
		$mu    = self::frame( 'wp/wp-content/mu-plugins/Company AI.php', $core2 );
		$this->assertSame( 'mu-plugin:company-ai', Sovgate_Source::from_frames( $mu(), self::dirs() ) );

		$core3  = self::frame( 'wp/wp-includes/http4.php', '' );
		$single = self::frame( 'wp/wp-content/plugins/hello-ai.php', $core3 );
		$this->assertSame( 'hello-ai', Sovgate_Source::from_frames( $single(), self::dirs() ) );

		$inner = self::frame( 'wp/wp-includes/class-wp-http.php', '' );
		$core4 = self::frame( 'wp/wp-includes/cron.php', $inner );
		$this->assertSame( 'wordpress', Sovgate_Source::from_frames( $core4(), self::dirs() ) );
		$this->assertSame( 'unknown', Sovgate_Source::from_frames( array( array( 'function' => 'x' ), array( 'file' => '/elsewhere/x.php' ) ), self::dirs() ) );
	}

	public function test_symlinked_plugin_is_named_by_its_link() {
		$core   = self::frame( 'wp/wp-includes/http5.php', '' );
		$linked = self::frame( 'real/linked-ai/linked-ai.php', $core );
		$this->assertSame( 'linked-ai', Sovgate_Source::from_frames( $linked(), self::dirs() ) );
	}

	public function test_sovgate_and_its_loader_are_skipped() {
		$frames = array(
			array( 'file' => self::$root . '/wp/wp-content/plugins/sovgate/sovgate.php' ),
			array( 'file' => self::$root . '/wp/wp-content/mu-plugins/sovgate-loader.php' ),
			array( 'file' => self::$root . '/wp/wp-settings.php' ),
		);
		$this->assertSame( 'wordpress', Sovgate_Source::from_frames( $frames, self::dirs() ) );
	}

	public function test_eval_frames_and_windows_paths() {
		$frames = array(
			array( 'file' => self::$root . "/wp/wp-content/plugins/shop-ai/x.php(12) : eval()'d code" ),
		);
		$this->assertSame( 'shop-ai', Sovgate_Source::from_frames( $frames, self::dirs() ) );
		$dirs = array( 'plugins' => 'C:\\wp\\wp-content\\plugins' );
		$this->assertSame( 'win-ai', Sovgate_Source::from_frames( array( array( 'file' => 'C:\\wp\\wp-content\\plugins\\win-ai\\a.php' ) ), $dirs ) );
	}

	public function test_clean() {
		$this->assertSame( 'my-plugin', Sovgate_Source::clean( 'My Plugin' ) );
		$this->assertSame( 'theme:twenty', Sovgate_Source::clean( 'theme:Twenty' ) );
		$this->assertSame( 64, strlen( Sovgate_Source::clean( str_repeat( 'a', 100 ) ) ) );
		$this->assertSame( 'unknown', Sovgate_Source::clean( '' ) );
		$this->assertSame( 'unknown', Sovgate_Source::clean( 'theme:' ) );
	}
}
