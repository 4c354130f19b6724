<?php
/**
 * The AI host list across plugin updates: defaults that a new version adds reach sites
 * whose admin saved a list before (fail closed), while defaults the admin removed stay
 * removed and the admin's own hosts stay; on a multisite network per site; stored values
 * that cannot be read count as having seen no default. (SOVGATE_HOSTS: ConstantsTest.)
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class HostsUpgradeTest extends TestCase {

	/**
	 * Defaults that an older version of the plugin did not have (Fireworks, Replicate,
	 * Hugging Face, GitHub Models, Azure AI model inference and Azure ML).
	 *
	 * @var string[]
	 */
	const NEW_HOSTS = array(
		'api.fireworks.ai',
		'*.api.fireworks.ai',
		'api.replicate.com',
		'api-inference.huggingface.co',
		'router.huggingface.co',
		'*.endpoints.huggingface.cloud',
		'models.github.ai',
		'*.inference.ai.azure.com',
		'*.inference.ml.azure.com',
	);

	/**
	 * A URL on each new host (what a plugin of the site calls).
	 *
	 * @var string[]
	 */
	const NEW_URLS = array(
		'https://api.fireworks.ai/inference/v1/chat/completions',
		'https://audio-prod.api.fireworks.ai/v1/audio/transcriptions',
		'https://api.replicate.com/v1/predictions',
		'https://router.huggingface.co/v1/chat/completions',
		'https://abc123.us-east-1.aws.endpoints.huggingface.cloud/v1/chat/completions',
		'https://models.github.ai/inference/chat/completions',
		'https://models.inference.ai.azure.com/chat/completions',
		'https://my-llm.westeurope.inference.ml.azure.com/score',
	);

	protected function setUp(): void {
		sg_wp_reset();
	}

	protected function tearDown(): void {
		remove_all_actions( 'switch_blog' );
		sg_wp_reset();
	}

	/**
	 * The defaults of the older version.
	 *
	 * @return string[]
	 */
	private static function old_defaults() {
		return array_values( array_diff( Sovgate_Hosts::DEFAULTS, self::NEW_HOSTS ) );
	}

	/**
	 * Whether a URL is an AI call under the settings in effect.
	 *
	 * @param string $url URL.
	 * @return bool
	 */
	private static function intercepted( $url ) {
		return null !== Sovgate_Hosts::ai_host( $url, Sovgate_Settings::get( 'hosts' ) );
	}

	/**
	 * The settings page's AI hosts field as an admin sees it: the textarea's list and the
	 * hidden defaults field, as the browser would post them.
	 *
	 * @return array{hosts: string, hosts_defaults_seen: string|null}
	 */
	private static function form() {
		ob_start();
		Sovgate_Admin::field_hosts();
		$html = ob_get_clean();
		preg_match( '#<textarea[^>]*>(.*?)</textarea>#s', $html, $textarea );
		$seen = preg_match( '#name="sovgate_settings\[hosts_defaults_seen\]" value="([^"]*)"#', $html, $m ) ? html_entity_decode( $m[1], ENT_QUOTES ) : null;
		return array(
			'hosts'               => html_entity_decode( $textarea[1], ENT_QUOTES ),
			'hosts_defaults_seen' => $seen,
		);
	}

	public function test_the_new_hosts_are_defaults() {
		foreach ( self::NEW_HOSTS as $host ) {
			$this->assertContains( $host, Sovgate_Hosts::DEFAULTS, 'update NEW_HOSTS with the defaults' );
		}
		foreach ( self::NEW_URLS as $url ) {
			$this->assertNotNull( Sovgate_Hosts::ai_host( $url, self::NEW_HOSTS ), $url );
			$this->assertNull( Sovgate_Hosts::ai_host( $url, self::old_defaults() ), $url );
		}
	}

	public function test_no_saved_list_means_the_defaults() {
		$this->assertSame( Sovgate_Hosts::DEFAULTS, Sovgate_Settings::get( 'hosts' ) );
		$this->assertSame( array(), Sovgate_Settings::hosts_added() );
		sg_wp_reset( array( 'mode' => 'monitor' ) );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, Sovgate_Settings::get( 'hosts' ) );
		$this->assertSame( array(), Sovgate_Settings::hosts_added() );
	}

	/**
	 * A list saved by an older version (no record of the defaults it was made from) gets
	 * every current default it lacks: the new providers, and also an old default the admin
	 * had removed (which cannot be told from one the version lacked: fail closed).
	 */
	public function test_list_saved_by_an_older_version_gets_the_new_defaults() {
		$old   = array_values( array_diff( self::old_defaults(), array( 'api.deepseek.com' ) ) );
		$saved = array_merge( $old, array( 'llm.example.internal', '*.models.shop.example' ) );
		sg_wp_reset( array( 'hosts' => $saved ) );
		$hosts = Sovgate_Settings::get( 'hosts' );
		foreach ( Sovgate_Hosts::DEFAULTS as $host ) {
			$this->assertContains( $host, $hosts );
		}
		$this->assertSame( $saved, array_slice( $hosts, 0, count( $saved ) ), 'the saved list first, as saved' );
		$this->assertContains( 'llm.example.internal', $hosts );
		$this->assertContains( '*.models.shop.example', $hosts );
		$this->assertEqualsCanonicalizing( array_merge( array( 'api.deepseek.com' ), self::NEW_HOSTS ), Sovgate_Settings::hosts_added() );
		foreach ( self::NEW_URLS as $url ) {
			$this->assertTrue( self::intercepted( $url ), $url );
		}
		$this->assertTrue( self::intercepted( 'https://llm.example.internal/v1/chat/completions' ) );
	}

	/**
	 * The same list in the string form parse_list() reads.
	 */
	public function test_list_saved_as_a_string_gets_the_new_defaults() {
		sg_wp_reset( array( 'hosts' => implode( "\n", self::old_defaults() ) ) );
		$this->assertEqualsCanonicalizing( Sovgate_Hosts::DEFAULTS, Sovgate_Settings::get( 'hosts' ) );
		$this->assertEqualsCanonicalizing( self::NEW_HOSTS, Sovgate_Settings::hosts_added() );
	}

	/**
	 * A list saved with a record of the defaults then shown: a default the admin removed
	 * stays removed, defaults added since are added, the admin's hosts stay.
	 */
	public function test_removed_default_stays_removed_and_new_defaults_are_added() {
		$saved = array_merge( array_values( array_diff( self::old_defaults(), array( 'api.deepseek.com', '*.openai.azure.com' ) ) ), array( 'llm.example.internal' ) );
		sg_wp_reset(
			array(
				'hosts'               => $saved,
				'hosts_defaults_seen' => self::old_defaults(),
			)
		);
		$hosts = Sovgate_Settings::get( 'hosts' );
		$this->assertNotContains( 'api.deepseek.com', $hosts );
		$this->assertNotContains( '*.openai.azure.com', $hosts );
		$this->assertContains( 'llm.example.internal', $hosts );
		$this->assertSame( array_merge( $saved, self::NEW_HOSTS ), $hosts );
		$this->assertSame( self::NEW_HOSTS, Sovgate_Settings::hosts_added() );
		$this->assertFalse( self::intercepted( 'https://api.deepseek.com/chat/completions' ) );
		$this->assertTrue( self::intercepted( 'https://api.replicate.com/v1/predictions' ) );

		// Saved with every current default shown: nothing is added.
		sg_wp_reset(
			array(
				'hosts'               => $saved,
				'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
			)
		);
		$this->assertSame( $saved, Sovgate_Settings::get( 'hosts' ) );
		$this->assertSame( array(), Sovgate_Settings::hosts_added() );
	}

	/**
	 * An admin who emptied the list (with the page's warning) keeps it empty until an
	 * update brings new defaults; those are intercepted.
	 */
	public function test_emptied_list_gets_only_defaults_added_since() {
		sg_wp_reset(
			array(
				'hosts'               => array(),
				'hosts_defaults_seen' => self::old_defaults(),
			)
		);
		$this->assertSame( self::NEW_HOSTS, Sovgate_Settings::get( 'hosts' ) );
		sg_wp_reset(
			array(
				'hosts'               => array(),
				'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
			)
		);
		$this->assertSame( array(), Sovgate_Settings::get( 'hosts' ) );
	}

	/**
	 * Through the settings page: an older version's list shows the new defaults (and says
	 * so); the admin removes one and saves; from then on the removal sticks and nothing is
	 * reported as added.
	 */
	public function test_saving_the_page_makes_a_removal_stick() {
		sg_wp_reset( array( 'hosts' => array_merge( self::old_defaults(), array( 'llm.example.internal' ) ) ) );
		ob_start();
		Sovgate_Admin::render_hosts_added();
		$notice = ob_get_clean();
		$this->assertStringContainsString( 'id="sovgate-hosts-added"', $notice );
		$this->assertStringContainsString( 'api.replicate.com', $notice );
		$this->assertStringContainsString( 'models.github.ai', $notice );
		$this->assertStringNotContainsString( 'api.openai.com,', $notice );

		$form = self::form();
		$this->assertStringContainsString( 'api.replicate.com', $form['hosts'] );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, Sovgate_Hosts::parse_list( $form['hosts_defaults_seen'] ) );
		$form['hosts'] = str_replace( "api.replicate.com\n", '', $form['hosts'] );
		$out           = Sovgate_Admin::sanitize( $form );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
		$this->assertNotContains( 'api.replicate.com', $out['hosts'] );
		$this->assertContains( 'llm.example.internal', $out['hosts'] );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, $out['hosts_defaults_seen'] );
		// WordPress runs the callback a second time on the first save (add_option()).
		sg_wp_reset( array() );
		$this->assertEquals( $out, Sovgate_Admin::sanitize( $out ) );

		sg_wp_reset( $out );
		$hosts = Sovgate_Settings::get( 'hosts' );
		$this->assertNotContains( 'api.replicate.com', $hosts );
		$this->assertContains( 'models.github.ai', $hosts );
		$this->assertContains( 'llm.example.internal', $hosts );
		$this->assertSame( array(), Sovgate_Settings::hosts_added() );
		ob_start();
		Sovgate_Admin::render_hosts_added();
		$this->assertSame( '', ob_get_clean() );
	}

	/**
	 * A post without the defaults it was shown with (a page rendered by an older version
	 * and submitted after the update, or a script) records none: every default missing from
	 * the list is added again. Entries that are no defaults are not recorded.
	 */
	public function test_post_without_the_defaults_shown_records_none() {
		sg_wp_reset( array( 'hosts' => Sovgate_Hosts::DEFAULTS ) );
		$list = array_values( array_diff( self::old_defaults(), array( 'api.deepseek.com' ) ) );
		$out  = Sovgate_Admin::sanitize( array( 'hosts' => implode( "\n", $list ) ) );
		$this->assertSame( array(), $out['hosts_defaults_seen'] );
		sg_wp_reset( $out );
		$this->assertEqualsCanonicalizing( Sovgate_Hosts::DEFAULTS, Sovgate_Settings::get( 'hosts' ) );

		$out = Sovgate_Admin::sanitize(
			array(
				'hosts'               => 'api.openai.com',
				'hosts_defaults_seen' => array( 'api.openai.com', 'llm.example.internal', 'bad!host', 42, array( 'x' ) ),
			)
		);
		$this->assertSame( array( 'api.openai.com' ), $out['hosts_defaults_seen'] );
		// Without a host list, the record is not touched.
		sg_wp_reset( array( 'hosts' => array( 'api.openai.com' ) ) );
		$out = Sovgate_Admin::sanitize( array( 'hosts_defaults_seen' => implode( ',', Sovgate_Hosts::DEFAULTS ) ) );
		$this->assertArrayNotHasKey( 'hosts_defaults_seen', $out );
	}

	/**
	 * Saving other settings does not store the defaults as a list: a site that never saved
	 * a host list keeps following the defaults.
	 */
	public function test_saving_other_settings_stores_no_host_list() {
		$out = Sovgate_Admin::sanitize( array( 'mode' => 'monitor' ) );
		$this->assertArrayNotHasKey( 'hosts', $out );
		$this->assertArrayNotHasKey( 'hosts_defaults_seen', $out );
		$this->assertArrayNotHasKey( 'hosts', Sovgate_Admin::sanitize( 'not an array' ) );
	}

	/**
	 * A gateway URL on a default added since the list was saved is refused when saving.
	 */
	public function test_gateway_url_on_a_new_default_is_refused() {
		sg_wp_reset( array( 'hosts' => self::old_defaults() ) );
		$out = Sovgate_Admin::sanitize( array( 'gateway_url' => 'https://api.replicate.com/v1' ) );
		$this->assertSame( '', $out['gateway_url'] );
		$this->assertStringContainsString( 'AI provider host', $GLOBALS['sg_wp']['errors'][0][1] );
		$this->assertNotSame( '', Sovgate_Settings::gateway_url_problem( 'https://models.github.ai/inference' ) );
	}

	/**
	 * Multisite: each site's own list and record; a site's administrator cannot record
	 * defaults as seen (the list is the network administrator's), and is told that only a
	 * network administrator changes it.
	 */
	public function test_multisite_per_site_and_locked_for_site_administrators() {
		Sovgate_Settings::register();
		$network_admin = array( 'manage_options', 'manage_network_options' );
		sg_wp_reset( array( 'hosts' => self::old_defaults() ), $network_admin, true );
		$form          = self::form();
		$form['hosts'] = str_replace( "api.replicate.com\n", '', $form['hosts'] );
		$site1         = Sovgate_Admin::sanitize( $form );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, $site1['hosts_defaults_seen'] );
		$GLOBALS['sg_wp']['options']['sovgate_settings'] = $site1;
		Sovgate_Settings::flush();
		$this->assertNotContains( 'api.replicate.com', Sovgate_Settings::get( 'hosts' ) );

		// switch_to_blog( 2 ): site 2 still has the older version's list.
		$GLOBALS['sg_wp']['options']['sovgate_settings'] = array( 'hosts' => self::old_defaults() );
		do_action( 'switch_blog', 2, 1, 'switch' );
		$this->assertContains( 'api.replicate.com', Sovgate_Settings::get( 'hosts' ) );
		$this->assertEqualsCanonicalizing( self::NEW_HOSTS, Sovgate_Settings::hosts_added() );

		// Site 2's own administrator: no hidden record in the page, a forged one is ignored.
		$GLOBALS['sg_wp']['caps'] = array( 'manage_options' );
		$form                     = self::form();
		$this->assertNull( $form['hosts_defaults_seen'] );
		$out = Sovgate_Admin::sanitize(
			array(
				'hosts_defaults_seen' => implode( ',', Sovgate_Hosts::DEFAULTS ),
				'chat_model'          => 'shop-model',
			)
		);
		$this->assertArrayNotHasKey( 'hosts_defaults_seen', $out );
		$this->assertSame( self::old_defaults(), $out['hosts'] );
		$GLOBALS['sg_wp']['options']['sovgate_settings'] = $out;
		Sovgate_Settings::flush();
		$this->assertContains( 'api.replicate.com', Sovgate_Settings::get( 'hosts' ) );
		ob_start();
		Sovgate_Admin::render_hosts_added();
		$this->assertStringContainsString( 'network administrator', ob_get_clean() );
	}

	/**
	 * Stored values that are not what the plugin writes.
	 *
	 * @return array<string, array{0: mixed}>
	 */
	public function malformed_options() {
		$object = new stdClass();
		return array(
			'option is a string'      => array( 'garbage' ),
			'option is an integer'    => array( 42 ),
			'option is an object'     => array( $object ),
			'option is null'          => array( null ),
			'hosts is null'           => array( array( 'hosts' => null ) ),
			'hosts is false'          => array( array( 'hosts' => false ) ),
			'hosts is an integer'     => array(
				array(
					'hosts'               => 12345,
					'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
				),
			),
			'hosts is an object'      => array(
				array(
					'hosts'               => $object,
					'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
				),
			),
			'hosts holds non-strings' => array(
				array(
					'hosts'               => array( 1, 2.5, true, null, array( 'api.openai.com' ), $object ),
					'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
				),
			),
			'hosts partly strings'    => array(
				array(
					'hosts'               => array( 'llm.example.internal', array( 'nested' ) ),
					'hosts_defaults_seen' => Sovgate_Hosts::DEFAULTS,
				),
			),
			'seen is a string'        => array(
				array(
					'hosts'               => array( 'llm.example.internal' ),
					'hosts_defaults_seen' => implode( ',', Sovgate_Hosts::DEFAULTS ),
				),
			),
			'seen is an object'       => array(
				array(
					'hosts'               => array( 'llm.example.internal' ),
					'hosts_defaults_seen' => $object,
				),
			),
			'seen holds non-strings'  => array(
				array(
					'hosts'               => array( 'llm.example.internal' ),
					'hosts_defaults_seen' => array_merge( Sovgate_Hosts::DEFAULTS, array( array( 'x' ), 7 ) ),
				),
			),
			'odd characters'          => array(
				array(
					'hosts'               => array(
						"api.openai.com\0.evil",
						'api.openai.com<script>',
						"\xff\xfe\xfd",
						'ÄPI.öpenai.com',
						'*',
						'*.',
						'..',
						'*.com',
						str_repeat( 'a.', 5000000 ) . 'com',
						'*.' . str_repeat( 'b', 300 ) . '.com',
						" \t\n",
						'llm.example.internal',
					),
					'hosts_defaults_seen' => array( "api.replicate.com\0", 'API.REPLICATE.COM<', "\xff" ),
				),
			),
		);
	}

	/**
	 * Malformed stored values cause no error or warning (PHPUnit turns those into failures)
	 * and fail closed: every default is intercepted; the readable hosts stay.
	 *
	 * @dataProvider malformed_options
	 *
	 * @param mixed $option The stored sovgate_settings option.
	 */
	public function test_malformed_option_fails_closed( $option ) {
		$GLOBALS['sg_wp']['options']['sovgate_settings'] = $option;
		Sovgate_Settings::flush();
		$hosts = Sovgate_Settings::get( 'hosts' );
		$this->assertIsArray( $hosts );
		foreach ( Sovgate_Hosts::DEFAULTS as $host ) {
			$this->assertContains( $host, $hosts );
		}
		foreach ( $hosts as $host ) {
			$this->assertIsString( $host );
			$this->assertTrue( Sovgate_Hosts::is_valid_pattern( $host ), $host );
		}
		if ( is_array( $option ) && is_array( $option['hosts'] ) && in_array( 'llm.example.internal', $option['hosts'], true ) ) {
			$this->assertContains( 'llm.example.internal', $hosts );
		}
		foreach ( self::NEW_URLS as $url ) {
			$this->assertTrue( self::intercepted( $url ), $url );
		}
		// The page renders and saves over it.
		ob_start();
		Sovgate_Admin::field_hosts();
		Sovgate_Admin::render_hosts_added();
		$this->assertNotSame( '', ob_get_clean() );
		$out = Sovgate_Admin::sanitize( array( 'mode' => 'enforce' ) );
		$this->assertSame( 'enforce', $out['mode'] );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
	}

	/**
	 * What a script might pass to update_option() (the settings callback runs on it too):
	 * refused with an error, the saved list and its record (none here) kept, so every
	 * default is still added. (More such values: HostsCapTest.)
	 */
	public function test_malformed_submitted_values() {
		foreach ( array( new stdClass(), 42, array( array( 'x' ), 7 ) ) as $value ) {
			sg_wp_reset( array( 'hosts' => array( 'api.openai.com' ) ) );
			$out = Sovgate_Admin::sanitize(
				array(
					'hosts'               => $value,
					'hosts_defaults_seen' => $value,
				)
			);
			$this->assertSame( array( 'api.openai.com' ), $out['hosts'] );
			$this->assertArrayNotHasKey( 'hosts_defaults_seen', $out );
			$this->assertCount( 1, $GLOBALS['sg_wp']['errors'] );
			sg_wp_reset( $out );
			foreach ( Sovgate_Hosts::DEFAULTS as $host ) {
				$this->assertContains( $host, Sovgate_Settings::get( 'hosts' ) );
			}
		}
	}

	/**
	 * A huge stored list (and a huge record) is read quickly and completely; the defaults
	 * it lacks are added. It is over the limits (HostsCapTest): reported, not cut.
	 */
	public function test_huge_lists() {
		$saved = array();
		for ( $i = 0; $i < 100000; $i++ ) {
			$saved[] = 'llm-' . $i . '.example.internal';
		}
		$saved[] = 'llm-7.example.internal';
		$seen    = $saved;
		$started = microtime( true );
		sg_wp_reset(
			array(
				'hosts'               => $saved,
				'hosts_defaults_seen' => $seen,
			)
		);
		$hosts = Sovgate_Settings::get( 'hosts' );
		$this->assertLessThan( 5.0, microtime( true ) - $started );
		$this->assertCount( 100000 + count( Sovgate_Hosts::DEFAULTS ), $hosts );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, Sovgate_Settings::hosts_added() );
		$this->assertTrue( self::intercepted( 'https://llm-99999.example.internal/v1' ) );
		$this->assertTrue( self::intercepted( 'https://api.replicate.com/v1/predictions' ) );
		$this->assertStringContainsString( 'has 100001 entries, more than 200', Sovgate_Settings::hosts_problem() );
	}
}
