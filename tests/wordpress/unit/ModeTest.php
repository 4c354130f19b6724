<?php
/**
 * A mode that is no mode (each test in its own process, since constants stay defined):
 * SOVGATE_MODE in wp-config.php (`monitr`) or the stored option (written by a script,
 * WP-CLI or an older version) holding anything but enforce or monitor means enforce
 * (fail closed), and the operator is told everywhere: the settings page's status and a
 * notice, Site Health (test and Info) and `wp sovgate status`; a submitted mode that is
 * no mode saves enforce, with a settings error naming it.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * @runTestsInSeparateProcesses
 * @preserveGlobalState disabled
 */
final class ModeTest extends TestCase {

	/**
	 * Asserts that enforce is in effect and that every place an operator looks names the
	 * problem.
	 *
	 * @param string $says What the problem must say.
	 */
	private function assert_enforced_and_reported( $says ) {
		$this->assertSame( 'enforce', Sovgate_Settings::get( 'mode' ) );
		$this->assertTrue( Sovgate_Settings::enforcing() );
		$problem = Sovgate_Settings::mode_problem();
		$this->assertStringContainsString( $says, $problem );
		$this->assertStringContainsString( 'not a mode (enforce or monitor): enforce is in effect', $problem );

		$status = Sovgate_Client::status();
		$this->assertSame( 'enforce', $status['mode'] );
		$this->assertSame( $problem, $status['mode_problem'] );

		ob_start();
		Sovgate_Admin::render_mode_problem();
		$html = ob_get_clean();
		$this->assertStringContainsString( 'id="sovgate-mode-problem"', $html );
		$this->assertStringContainsString( 'notice-error', $html );
		$this->assertStringContainsString( esc_html( $says ), $html );
		$this->assertStringNotContainsString( '<script', $html );

		$health = Sovgate_Site_Health::test();
		$this->assertNotSame( 'good', $health['status'] );
		$this->assertStringContainsString( esc_html( $says ), $health['description'] );
		$this->assertStringContainsString( 'enforce is in effect', $health['description'] );
		$info = Sovgate_Site_Health::debug_information( array() );
		$this->assertStringStartsWith( 'enforce (', $info['sovgate']['fields']['mode']['value'] );
		$this->assertStringContainsString( $says, $info['sovgate']['fields']['mode']['value'] );
	}

	public function test_mode_constant_that_is_no_mode_means_enforce_and_is_reported() {
		define( 'SOVGATE_MODE', 'monitr' );
		sg_wp_reset( array( 'mode' => 'monitor' ) );
		$this->assert_enforced_and_reported( 'SOVGATE_MODE in wp-config.php is "monitr"' );
		$this->assertStringContainsString( 'Set it to \'enforce\' or \'monitor\'', Sovgate_Settings::mode_problem() );
		// The page cannot change it (the constant fixes it): the usual lock, nothing saved.
		$this->assertTrue( Sovgate_Admin::locked( 'mode' ) );
		$out = Sovgate_Admin::sanitize( array( 'mode' => 'monitor' ) );
		$this->assertSame( 'monitor', $out['mode'], 'the stored option is left alone' );
		$this->assertSame( 'enforce', Sovgate_Settings::get( 'mode' ) );
	}

	/**
	 * SOVGATE_MODE defined as something that is not text: enforce, reported, no PHP
	 * warning (an array used to be cast to "Array").
	 */
	public function test_mode_constant_of_the_wrong_type() {
		define( 'SOVGATE_MODE', array( 'monitor' ) );
		sg_wp_reset( array( 'mode' => 'monitor' ) );
		$this->assert_enforced_and_reported( 'SOVGATE_MODE in wp-config.php is an array' );
	}

	/**
	 * @return array[]
	 */
	public function stored_modes() {
		return array(
			'a typo'           => array( 'monitr', '"monitr"' ),
			'capitals'         => array( 'Monitor', '"Monitor"' ),
			'spaces'           => array( ' monitor', '" monitor"' ),
			'empty'            => array( '', '""' ),
			'a number'         => array( 1, ' 1,' ),
			'true'             => array( true, ' true,' ),
			'null'             => array( null, ' null,' ),
			'an array'         => array( array( 'monitor' ), 'an array' ),
			'markup'           => array( '<script>alert(1)</script>', '"<script>alert(1)</script>"' ),
			'control bytes'    => array( "mon\x00it\x1bor\xff", '"mon?it?or?"' ),
			'very long'        => array( str_repeat( 'm', 5000 ), '"' . str_repeat( 'm', 64 ) . '..."' ),
			'an object'        => array( new stdClass(), 'an object' ),
			'a float'          => array( 1.5, ' 1.5,' ),
			'enforce with tab' => array( "enforce\t", '"enforce?"' ),
		);
	}

	/**
	 * A stored mode that is no mode (update_option() from a script, `wp option update`).
	 *
	 * @dataProvider stored_modes
	 *
	 * @param mixed  $mode The stored mode.
	 * @param string $says How the problem names it.
	 */
	public function test_stored_mode_that_is_no_mode_means_enforce_and_is_reported( $mode, $says ) {
		sg_wp_reset( array( 'mode' => $mode ) );
		$this->assert_enforced_and_reported( 'The saved mode is' );
		$this->assertStringContainsString( $says, Sovgate_Settings::mode_problem() );
		$this->assertStringContainsString( 'Choose a mode on the settings page and save', Sovgate_Settings::mode_problem() );
	}

	public function test_valid_modes_have_no_problem() {
		foreach ( array( array(), array( 'mode' => 'enforce' ), array( 'mode' => 'monitor' ) ) as $option ) {
			sg_wp_reset( $option );
			$this->assertSame( $option['mode'] ?? 'enforce', Sovgate_Settings::get( 'mode' ) );
			$this->assertSame( '', Sovgate_Settings::mode_problem() );
			$this->assertSame( '', Sovgate_Client::status()['mode_problem'] );
			ob_start();
			Sovgate_Admin::render_mode_problem();
			$this->assertSame( '', ob_get_clean() );
			$this->assertSame( $option['mode'] ?? 'enforce', Sovgate_Site_Health::debug_information( array() )['sovgate']['fields']['mode']['value'] );
		}
	}

	public function test_valid_mode_constant_has_no_problem() {
		define( 'SOVGATE_MODE', 'monitor' );
		sg_wp_reset( array( 'mode' => 'monitr' ) );
		$this->assertSame( 'monitor', Sovgate_Settings::get( 'mode' ) );
		$this->assertSame( '', Sovgate_Settings::mode_problem() );
	}

	/**
	 * The settings page (or update_option() while the settings are registered) given a
	 * mode that is no mode: enforce is saved, whatever was saved before, with one error
	 * naming the value; a first save's second pass reports nothing more.
	 */
	public function test_submitted_mode_that_is_no_mode_saves_enforce_with_an_error() {
		foreach ( array( 'monitr', 'Monitor', '', array( 'monitor' ), '<b>monitor</b>' ) as $mode ) {
			sg_wp_reset( array( 'mode' => 'monitor' ) );
			$out = Sovgate_Admin::sanitize(
				array(
					'mode'       => $mode,
					'chat_model' => 'shop-model',
				)
			);
			$this->assertSame( 'enforce', $out['mode'] );
			$this->assertSame( 'shop-model', $out['chat_model'], 'the other fields are saved' );
			$errors = $GLOBALS['sg_wp']['errors'];
			$this->assertCount( 1, $errors );
			$this->assertSame( 'sovgate_mode', $errors[0][0] );
			$this->assertSame( 'error', $errors[0][2] );
			$this->assertStringContainsString( esc_html( Sovgate_Settings::describe_value( $mode ) ) . ' is not a mode (enforce or monitor); enforce was saved', $errors[0][1] );
			$this->assertStringNotContainsString( '<b>', $errors[0][1] );
		}
		// A valid mode: saved, no error.
		foreach ( Sovgate_Settings::MODES as $mode ) {
			sg_wp_reset( array( 'mode' => 'monitr' ) );
			$this->assertSame( $mode, Sovgate_Admin::sanitize( array( 'mode' => $mode ) )['mode'] );
			$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
		}
		// A site's first save (the callback runs twice): one error, enforce stored.
		sg_wp_reset( array() );
		$saved = sg_wp_save(
			array(
				'mode'      => 'monitr',
				'chat_form' => '1',
			)
		);
		$this->assertSame( 'enforce', $saved['mode'] );
		$this->assertCount( 1, $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( '', Sovgate_Settings::mode_problem(), 'what was stored is a mode' );
	}

	public function test_wp_sovgate_status_shows_it() {
		require_once __DIR__ . '/wp-cli.php';
		define( 'SOVGATE_MODE', 'monitr' );
		sg_wp_reset();
		$cli = new Sovgate_CLI();
		$cli->status( array(), array() );
		$rows = array_column( WP_CLI::$tables[0], 'value', 'setting' );
		$this->assertSame( 'enforce', $rows['mode'] );
		$this->assertStringContainsString( 'SOVGATE_MODE in wp-config.php is "monitr"', $rows['mode problem'] );
		$cli->status( array(), array( 'format' => 'json' ) );
		$json = json_decode( end( WP_CLI::$lines ), true );
		$this->assertSame( 'enforce', $json['mode'] );
		$this->assertStringContainsString( '"monitr"', $json['mode_problem'] );
	}

	public function test_wp_sovgate_status_without_a_problem() {
		require_once __DIR__ . '/wp-cli.php';
		sg_wp_reset( array( 'mode' => 'monitor' ) );
		( new Sovgate_CLI() )->status( array(), array() );
		$rows = array_column( WP_CLI::$tables[0], 'value', 'setting' );
		$this->assertSame( 'monitor', $rows['mode'] );
		$this->assertSame( '(none)', $rows['mode problem'] );
	}
}
