<?php
/**
 * Host matching: exact names, wildcards, normalization, list parsing.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class HostsTest extends TestCase {

	public function test_defaults_match_the_providers() {
		$d = Sovgate_Hosts::DEFAULTS;
		$this->assertSame( 'api.openai.com', Sovgate_Hosts::match( 'api.openai.com', $d ) );
		$this->assertSame( 'openrouter.ai', Sovgate_Hosts::match( 'openrouter.ai', $d ) );
		$this->assertSame( '*.openai.azure.com', Sovgate_Hosts::match( 'myshop.openai.azure.com', $d ) );
		$this->assertSame( '*.openai.azure.com', Sovgate_Hosts::match( 'a.b.openai.azure.com', $d ) );
		$this->assertNull( Sovgate_Hosts::match( 'openai.azure.com', $d ), 'a wildcard does not match its own domain' );
		$this->assertNull( Sovgate_Hosts::match( 'evilopenai.azure.com', $d ) );
		$this->assertNull( Sovgate_Hosts::match( 'api.openai.com.evil.example', $d ) );
		$this->assertNull( Sovgate_Hosts::match( 'xapi.openai.com', $d ) );
		$this->assertNull( Sovgate_Hosts::match( 'example.com', $d ) );
		$this->assertNull( Sovgate_Hosts::match( '', $d ) );
	}

	public function test_case_trailing_dot_and_brackets_are_normalized() {
		$d = Sovgate_Hosts::DEFAULTS;
		$this->assertSame( 'api.openai.com', Sovgate_Hosts::match( 'API.OpenAI.com', $d ) );
		$this->assertSame( 'api.openai.com', Sovgate_Hosts::match( 'api.openai.com.', $d ) );
		$this->assertSame( 'api.openai.com', Sovgate_Hosts::host_of( 'https://API.OPENAI.COM.:443/v1/chat/completions' ) );
		$this->assertSame( 'api.openai.com', Sovgate_Hosts::host_of( 'https://user:pw@api.openai.com/v1' ) );
		$this->assertSame( '::1', Sovgate_Hosts::host_of( 'https://[::1]:8443/v1' ) );
		$this->assertSame( '', Sovgate_Hosts::host_of( 'not a url' ) );
	}

	public function test_parse_list_accepts_lines_commas_and_arrays() {
		$invalid = array();
		$list    = Sovgate_Hosts::parse_list( "api.openai.com\n  *.Example.org ,llm.internal\n\napi.openai.com\nbad!host\n*.com\nfoo_bar.com", $invalid );
		$this->assertSame( array( 'api.openai.com', '*.example.org', 'llm.internal' ), $list );
		$this->assertSame( array( 'bad!host', '*.com', 'foo_bar.com' ), $invalid );
		$this->assertSame( array( 'a.example' ), Sovgate_Hosts::parse_list( array( 'A.example', 42, '' ) ) );
	}

	public function test_wildcards_from_a_custom_list() {
		$list = Sovgate_Hosts::parse_list( "*.llm.example\nmodels.example" );
		$this->assertSame( '*.llm.example', Sovgate_Hosts::match( 'eu.llm.example', $list ) );
		$this->assertSame( 'models.example', Sovgate_Hosts::match( 'MODELS.example', $list ) );
		$this->assertNull( Sovgate_Hosts::match( 'llm.example', $list ) );
		$this->assertNull( Sovgate_Hosts::match( 'x.models.example', $list ) );
	}
}
