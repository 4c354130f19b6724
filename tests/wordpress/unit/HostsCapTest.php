<?php
/**
 * The limits of the AI host list (Sovgate_Hosts::MAX_HOSTS entries of at most MAX_LENGTH
 * bytes, MAX_TEXT bytes of text): a submission over them, or of the wrong type, is
 * refused with a settings error and the saved list stays as it was; hostile entries are
 * reported without their markup or control bytes; a list from code over them (the stored
 * option; SOVGATE_HOSTS: ConstantsTest) loses no host, gets every default, and is
 * reported.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class HostsCapTest extends TestCase {

	/**
	 * The option before each submission: a saved list with its record of defaults.
	 *
	 * @var array
	 */
	const SAVED = array(
		'mode'                => 'enforce',
		'hosts'               => array( 'api.openai.com', 'llm.example.internal' ),
		'hosts_defaults_seen' => array( 'api.openai.com', 'api.anthropic.com' ),
	);

	protected function setUp(): void {
		sg_wp_reset( self::SAVED );
	}

	protected function tearDown(): void {
		sg_wp_reset();
	}

	/**
	 * Distinct host names.
	 *
	 * @param int $count How many.
	 * @return string[]
	 */
	private static function many_hosts( $count ) {
		$hosts = array();
		for ( $i = 0; $i < $count; $i++ ) {
			$hosts[] = 'llm-' . $i . '.example.internal';
		}
		return $hosts;
	}

	/**
	 * A host name of a given length (labels of 63 bytes).
	 *
	 * @param int $length Bytes.
	 * @return string
	 */
	private static function long_host( $length ) {
		$host = '';
		while ( strlen( $host ) < $length - 12 ) {
			$host .= str_repeat( 'a', min( 63, $length - 12 - strlen( $host ) ) ) . '.';
		}
		$host .= 'example.com';
		return str_pad( $host, $length, 'b', STR_PAD_LEFT );
	}

	/**
	 * The settings errors so far.
	 *
	 * @return array[]
	 */
	private static function errors() {
		return $GLOBALS['sg_wp']['errors'];
	}

	public function test_the_limits() {
		$this->assertSame( 200, Sovgate_Hosts::MAX_HOSTS );
		$this->assertSame( 253, Sovgate_Hosts::MAX_LENGTH );
		$this->assertSame( 65536, Sovgate_Hosts::MAX_TEXT );
		$this->assertSame( 253, strlen( self::long_host( 253 ) ) );
		$this->assertTrue( Sovgate_Hosts::is_valid_pattern( self::long_host( 253 ) ) );
		$this->assertLessThan( Sovgate_Hosts::MAX_HOSTS, count( Sovgate_Hosts::DEFAULTS ), 'the defaults fit, with room for the shop\'s own hosts' );

		$count = -1;
		$this->assertSame( '', Sovgate_Hosts::list_problem( Sovgate_Hosts::DEFAULTS, $count ) );
		$this->assertSame( count( Sovgate_Hosts::DEFAULTS ), $count );
		$this->assertSame( '', Sovgate_Hosts::list_problem( implode( "\n", self::many_hosts( 200 ) ) ) );
		$this->assertSame( '', Sovgate_Hosts::list_problem( self::many_hosts( 200 ) ) );
		$this->assertSame( '', Sovgate_Hosts::list_problem( '' ) );
		$this->assertSame( '', Sovgate_Hosts::list_problem( array() ) );
		$this->assertSame( '', Sovgate_Hosts::list_problem( "\n\n , \t" . implode( " ,\r\n", self::many_hosts( 200 ) ) . "\n\n" ), 'blank entries do not count' );
		$this->assertSame( '', Sovgate_Hosts::list_problem( array( self::long_host( 253 ), '', '  ' ) ) );
		$this->assertSame( '', Sovgate_Hosts::list_problem( array( 'bad!host', '*.com' ) ), 'invalid entries are parse_list()\'s business' );

		$this->assertSame( 'count', Sovgate_Hosts::list_problem( implode( "\n", self::many_hosts( 201 ) ), $count ) );
		$this->assertSame( 201, $count );
		$this->assertSame( 'count', Sovgate_Hosts::list_problem( self::many_hosts( 201 ) ) );
		$this->assertSame( 'count', Sovgate_Hosts::list_problem( array_fill( 0, 201, 'api.openai.com' ) ), 'duplicates count' );
		$this->assertSame( 'length', Sovgate_Hosts::list_problem( array( self::long_host( 254 ) ) ) );
		$this->assertSame( 'length', Sovgate_Hosts::list_problem( 'api.openai.com ' . str_repeat( 'x', 254 ) ) );
		$this->assertSame( 'text', Sovgate_Hosts::list_problem( str_repeat( "api.openai.com\n", 5000 ) ) );
		$this->assertSame( 'text', Sovgate_Hosts::list_problem( str_repeat( ' ', Sovgate_Hosts::MAX_TEXT + 1 ) ) );
		$this->assertSame( '', Sovgate_Hosts::list_problem( str_repeat( ' ', Sovgate_Hosts::MAX_TEXT ) ) );
		foreach ( array( null, 42, 4.2, true, new stdClass(), array( array( 'api.openai.com' ) ), array( 'api.openai.com', 7 ), array( 'a.example', null ) ) as $value ) {
			$this->assertSame( 'type', Sovgate_Hosts::list_problem( $value ) );
		}
	}

	/**
	 * Host lists over the limits, as the page or a script posts them.
	 *
	 * @return array<string, array{0: mixed, 1: string}> The list, and a part of the error.
	 */
	public function oversized_lists() {
		return array(
			'201 hosts as text'              => array( implode( "\n", self::many_hosts( 201 ) ), 'has 201 entries, more than 200' ),
			'201 hosts as a list'            => array( self::many_hosts( 201 ), 'has 201 entries, more than 200' ),
			'100,000 hosts as a list'        => array( self::many_hosts( 100000 ), 'has 100000 entries' ),
			'201 hosts, commas and spaces'   => array( implode( ', ', self::many_hosts( 201 ) ), 'has 201 entries' ),
			'a host of 254 bytes'            => array( "api.openai.com\n" . self::long_host( 254 ), 'longer than 253 bytes' ),
			'a host of 254 bytes in a list'  => array( array( 'api.openai.com', self::long_host( 254 ) ), 'longer than 253 bytes' ),
			'one line of 60,000 bytes'       => array( str_repeat( 'a', 60000 ), 'longer than 253 bytes' ),
			'text over 64 KiB'               => array( str_repeat( "api.openai.com\n", 4370 ), 'longer than 64 KiB' ),
			'one line of 10 MB'              => array( str_repeat( '<script>alert(1)</script>', 400000 ), 'longer than 64 KiB' ),
			'64 KiB of blank lines and more' => array( str_repeat( "\n", Sovgate_Hosts::MAX_TEXT ) . 'api.openai.com', 'longer than 64 KiB' ),
		);
	}

	/**
	 * A list over a limit is refused as a whole, with one clear error that names the limit
	 * and echoes none of the input; the saved list and its record stay as they were, and
	 * the other settings of the submission are saved.
	 *
	 * @dataProvider oversized_lists
	 *
	 * @param mixed  $hosts The posted list.
	 * @param string $says  What the error says.
	 */
	public function test_oversized_list_is_refused_and_nothing_is_lost( $hosts, $says ) {
		$out = Sovgate_Admin::sanitize(
			array(
				'hosts'               => $hosts,
				'hosts_defaults_seen' => implode( ',', Sovgate_Hosts::DEFAULTS ),
				'mode'                => 'monitor',
			)
		);
		$this->assertSame( self::SAVED['hosts'], $out['hosts'] );
		$this->assertSame( self::SAVED['hosts_defaults_seen'], $out['hosts_defaults_seen'] );
		$this->assertSame( 'monitor', $out['mode'], 'the rest of the form is saved' );
		$errors = self::errors();
		$this->assertCount( 1, $errors );
		list( $code, $message, $type ) = $errors[0];
		$this->assertSame( 'sovgate_hosts', $code );
		$this->assertSame( 'error', $type );
		$this->assertStringContainsString( $says, $message );
		$this->assertStringContainsString( 'not saved', $message );
		$this->assertStringContainsString( 'at most 200 entries of at most 253 bytes', $message );
		$this->assertLessThan( 600, strlen( $message ), 'the input is not echoed' );
		$this->assertStringNotContainsString( 'llm-1', $message );
		$this->assertStringNotContainsString( '<', $message );

		// A site that never saved a list keeps following the defaults.
		sg_wp_reset( array( 'mode' => 'enforce' ) );
		$out = Sovgate_Admin::sanitize( array( 'hosts' => $hosts ) );
		$this->assertArrayNotHasKey( 'hosts', $out );
		$this->assertArrayNotHasKey( 'hosts_defaults_seen', $out );
		$this->assertCount( 1, self::errors() );
		sg_wp_reset( $out );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, Sovgate_Settings::get( 'hosts' ) );
	}

	public function test_lists_at_the_limits_are_saved() {
		$hosts   = self::many_hosts( 199 );
		$hosts[] = self::long_host( 253 );
		$out     = Sovgate_Admin::sanitize( array( 'hosts' => implode( "\r\n", $hosts ) . "\r\n\r\n" ) );
		$this->assertSame( array(), self::errors() );
		$this->assertSame( $hosts, $out['hosts'] );
		$out = Sovgate_Admin::sanitize( array( 'hosts' => $hosts ) );
		$this->assertSame( array(), self::errors() );
		$this->assertSame( $hosts, $out['hosts'] );
	}

	/**
	 * Host lists of the wrong type, as a script (or a forged form) might post them.
	 *
	 * @return array<string, array{0: mixed}>
	 */
	public function wrong_types() {
		return array(
			'an object'                  => array( new stdClass() ),
			'an integer'                 => array( 42 ),
			'a float'                    => array( 4.2 ),
			'true'                       => array( true ),
			'a nested list'              => array( array( array( 'api.openai.com', 'llm.example.internal' ) ) ),
			'a list with a nested list'  => array( array( 'api.openai.com', array( 'llm.example.internal' ) ) ),
			'a list with a number'       => array( array( 'api.openai.com', 7 ) ),
			'a list with null'           => array( array( 'api.openai.com', null ) ),
			'a list with an object'      => array( array( 'api.openai.com', new stdClass() ) ),
			'deeply nested'              => array( array( array( array( array( array( 'x' ) ) ) ) ) ),
			'keyed, with a nested value' => array(
				array(
					'a' => 'api.openai.com',
					'b' => array( 'c' => 'llm.example.internal' ),
				),
			),
		);
	}

	/**
	 * A list of the wrong type is refused like one over the limits: no PHP warning (they
	 * fail the test), one error, the saved list and record kept.
	 *
	 * @dataProvider wrong_types
	 *
	 * @param mixed $hosts The posted list.
	 */
	public function test_wrong_type_is_refused_and_nothing_is_lost( $hosts ) {
		$out = Sovgate_Admin::sanitize(
			array(
				'hosts'               => $hosts,
				'hosts_defaults_seen' => $hosts,
			)
		);
		$this->assertSame( self::SAVED['hosts'], $out['hosts'] );
		$this->assertSame( self::SAVED['hosts_defaults_seen'], $out['hosts_defaults_seen'] );
		$errors = self::errors();
		$this->assertCount( 1, $errors );
		$this->assertSame( 'sovgate_hosts', $errors[0][0] );
		$this->assertStringContainsString( 'not saved', $errors[0][1] );
		$this->assertStringContainsString( 'one host per line', $errors[0][1] );
	}

	/**
	 * The other settings' text fields given arrays, nested arrays or objects: refused with
	 * an error each, their saved values kept, no PHP warning or error (the mode, no text
	 * field: enforce, with its own error).
	 */
	public function test_wrong_types_for_the_other_settings() {
		$saved = array(
			'gateway_url'     => 'https://gateway.shop.internal:8443',
			'api_key'         => 'sg-saved-key-0123456789',
			'ca_bundle'       => '',
			'mode'            => 'enforce',
			'chat_model'      => 'assistant',
			'chat_rate_limit' => 20,
		);
		foreach ( array( array( 'https://harvest.attacker.example' ), array( array( 'x' ) ), new stdClass() ) as $value ) {
			sg_wp_reset( $saved );
			$out = Sovgate_Admin::sanitize(
				array(
					'gateway_url'     => $value,
					'api_key'         => $value,
					'ca_bundle'       => $value,
					'mode'            => $value,
					'chat_model'      => $value,
					'chat_rate_limit' => $value,
					'clear_key'       => array(),
					'chat_form'       => $value,
					'chat_public'     => $value,
				)
			);
			foreach ( $saved as $name => $kept ) {
				$this->assertSame( $kept, $out[ $name ], $name );
			}
			$codes = array_column( self::errors(), 0 );
			foreach ( array( 'gateway_url', 'api_key', 'ca_bundle', 'mode', 'chat_model', 'chat_rate_limit' ) as $name ) {
				$this->assertContains( 'sovgate_' . $name, $codes, $name );
			}
			foreach ( self::errors() as $error ) {
				$this->assertStringContainsString( 'sovgate_mode' === $error[0] ? 'is not a mode (enforce or monitor); enforce was saved' : 'must be text', $error[1] );
			}
		}
		// Where a site's administrator cannot change them: the usual error, no warning.
		sg_wp_reset( $saved, array( 'manage_options' ), true );
		$out = Sovgate_Admin::sanitize(
			array(
				'api_key'     => array( 'x' ),
				'gateway_url' => new stdClass(),
			)
		);
		$this->assertSame( $saved['api_key'], $out['api_key'] );
		$this->assertSame( $saved['gateway_url'], $out['gateway_url'] );
		$this->assertCount( 2, self::errors() );
		$this->assertStringContainsString( 'network administrator', self::errors()[0][1] );
	}

	/**
	 * Hostile entries within the limits: the valid hosts are saved, the others left out
	 * and named in the error without markup, control or format characters, each cut short,
	 * at most ten of them.
	 */
	public function test_hostile_entries_are_reported_harmlessly() {
		$hostile = array(
			'<script>alert(document.cookie)</script>',
			'<img/src=x/onerror=alert(1)>',
			"api.openai.com\0.evil",
			"\x1b[31mred",
			"llm\u{202e}moc.evil",
			"\xff\xfe\xfd",
			'"><svg/onload=alert(1)>',
			str_repeat( 'z', 200 ) . '!',
		);
		$out     = Sovgate_Admin::sanitize( array( 'hosts' => array_merge( array( 'llm.example.internal' ), $hostile, array( 'API.Anthropic.com' ) ) ) );
		$this->assertSame( array( 'llm.example.internal', 'api.anthropic.com' ), $out['hosts'] );
		$errors = self::errors();
		$this->assertCount( 1, $errors );
		$message = $errors[0][1];
		$this->assertStringContainsString( 'left out', $message );
		$this->assertStringNotContainsString( '<', $message );
		$this->assertStringNotContainsString( '>', $message );
		$this->assertStringNotContainsString( '"', $message );
		$this->assertStringContainsString( '&lt;script&gt;', $message );
		$this->assertSame( 1, preg_match( '//u', $message ), 'valid UTF-8 (esc_html() would blank it otherwise)' );
		$this->assertSame( 0, preg_match( '/[\x00-\x1f\x7f]|\x{202e}/u', $message ) );
		$this->assertStringNotContainsString( str_repeat( 'z', 65 ), $message );

		// As text, with many of them: ten are named (once each), and how many more there were.
		$text = "llm.example.internal\n<b>bold-0</b>\n";
		for ( $i = 0; $i < 150; $i++ ) {
			$text .= '<b>bold-' . $i . "</b>\n";
		}
		$out = Sovgate_Admin::sanitize( array( 'hosts' => $text ) );
		$this->assertSame( array( 'llm.example.internal' ), $out['hosts'] );
		$message = end( $GLOBALS['sg_wp']['errors'] )[1];
		$this->assertSame( 10, substr_count( $message, 'bold' ) );
		$this->assertStringContainsString( 'and 140 more', $message );
		$this->assertLessThan( 1000, strlen( $message ) );
	}

	/**
	 * The hidden record of the defaults shown: one over the limits records none (fail
	 * closed: every default missing from the list is added), without an error.
	 */
	public function test_oversized_record_of_defaults_records_none() {
		foreach ( array( str_repeat( 'api.openai.com,', 10000 ), array_fill( 0, 201, 'api.openai.com' ) ) as $seen ) {
			sg_wp_reset( self::SAVED );
			$out = Sovgate_Admin::sanitize(
				array(
					'hosts'               => 'llm.example.internal',
					'hosts_defaults_seen' => $seen,
				)
			);
			$this->assertSame( array( 'llm.example.internal' ), $out['hosts'] );
			$this->assertSame( array(), $out['hosts_defaults_seen'] );
			$this->assertSame( array(), self::errors() );
		}
	}

	/**
	 * Stored lists over the limits (a script's update_option(), an older version): no host
	 * on them is dropped (that would let calls to it reach the provider), every default is
	 * added as for a value that cannot be read (the record of defaults seen is ignored),
	 * and the settings page says what is wrong.
	 *
	 * @return array<string, array{0: mixed, 1: string}>
	 */
	public function oversized_stored_lists() {
		return array(
			'250 hosts'            => array( self::many_hosts( 250 ), 'has 250 entries, more than 200' ),
			'250 hosts as text'    => array( implode( "\n", self::many_hosts( 250 ) ), 'has 250 entries' ),
			'an entry too long'    => array( array( 'llm-0.example.internal', self::long_host( 300 ) ), 'longer than 253 bytes' ),
			'text over 64 KiB'     => array( implode( "\n", self::many_hosts( 180 ) ) . str_repeat( ' ', 70000 ), 'longer than 64 KiB' ),
			'a list with a number' => array( array( 'llm-0.example.internal', 7 ), 'not text with one host per line' ),
		);
	}

	/**
	 * @dataProvider oversized_stored_lists
	 *
	 * @param mixed  $stored The stored list.
	 * @param string $says   What the notice says.
	 */
	public function test_oversized_stored_list_fails_closed_and_is_reported( $stored, $says ) {
		sg_wp_reset(
			array(
				'hosts'               => $stored,
				'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
			)
		);
		$hosts = Sovgate_Settings::get( 'hosts' );
		foreach ( Sovgate_Hosts::parse_list( $stored ) as $host ) {
			$this->assertContains( $host, $hosts, 'no host is dropped' );
		}
		$this->assertContains( 'llm-0.example.internal', $hosts );
		foreach ( Sovgate_Hosts::DEFAULTS as $host ) {
			$this->assertContains( $host, $hosts, 'every default is added' );
		}
		$this->assertNotNull( Sovgate_Hosts::ai_host( 'https://llm-0.example.internal/v1', $hosts ) );
		$problem = Sovgate_Settings::hosts_problem();
		$this->assertStringContainsString( $says, $problem );
		$this->assertStringContainsString( 'saved AI host list', $problem );
		ob_start();
		Sovgate_Admin::render_hosts_problem();
		$html = ob_get_clean();
		$this->assertStringContainsString( 'id="sovgate-hosts-problem"', $html );
		$this->assertStringContainsString( 'notice-error', $html );
	}

	public function test_lists_within_the_limits_have_no_problem() {
		foreach ( array( array(), self::SAVED, array( 'hosts' => self::many_hosts( 200 ) ), array( 'hosts' => null ) ) as $option ) {
			sg_wp_reset( $option );
			$this->assertSame( '', Sovgate_Settings::hosts_problem() );
			ob_start();
			Sovgate_Admin::render_hosts_problem();
			$this->assertSame( '', ob_get_clean() );
		}
		sg_wp_reset( array( 'hosts' => self::many_hosts( 200 ) ) );
		$this->assertSame( array_merge( self::many_hosts( 200 ), Sovgate_Hosts::DEFAULTS ), Sovgate_Settings::get( 'hosts' ) );
	}

	/**
	 * The settings page names the limits under the field.
	 */
	public function test_the_page_names_the_limits() {
		ob_start();
		Sovgate_Admin::field_hosts();
		$this->assertStringContainsString( 'At most 200 entries of at most 253 bytes each', ob_get_clean() );
	}
}
