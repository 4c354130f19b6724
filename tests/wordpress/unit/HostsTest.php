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

	public function test_official_regional_and_cloud_endpoints_are_defaults() {
		$d = Sovgate_Hosts::DEFAULTS;
		foreach ( array( 'eu.api.openai.com', 'us.api.openai.com', 'myshop.cognitiveservices.azure.com', 'myshop.services.ai.azure.com', 'us-central1-aiplatform.googleapis.com', 'europe-west4-aiplatform.googleapis.com', 'aiplatform.googleapis.com', 'codestral.mistral.ai' ) as $host ) {
			$this->assertNotNull( Sovgate_Hosts::match( $host, $d ), $host );
		}
		$this->assertSame( '*-aiplatform.googleapis.com', Sovgate_Hosts::match( 'us-central1-aiplatform.googleapis.com', $d ) );
		$this->assertNull( Sovgate_Hosts::match( '-aiplatform.googleapis.com', $d ), 'a wildcard needs something in its place' );
		$this->assertNull( Sovgate_Hosts::match( 'aiplatform.googleapis.com.evil.example', $d ) );
		$this->assertNull( Sovgate_Hosts::match( 'storage.googleapis.com', $d ) );
	}

	public function test_inference_endpoint_hosts_are_defaults() {
		$d = Sovgate_Hosts::DEFAULTS;
		$this->assertSame( '*.api.fireworks.ai', Sovgate_Hosts::match( 'audio-prod.api.fireworks.ai', $d ) );
		$this->assertSame( 'api.fireworks.ai', Sovgate_Hosts::match( 'api.fireworks.ai', $d ) );
		$this->assertSame( 'models.github.ai', Sovgate_Hosts::match( 'MODELS.github.ai.', $d ) );
		$this->assertSame( '*.endpoints.huggingface.cloud', Sovgate_Hosts::match( 'x1y2.us-east-1.aws.endpoints.huggingface.cloud', $d ) );
		$this->assertSame( '*.inference.ml.azure.com', Sovgate_Hosts::match( 'shop.westeurope.inference.ml.azure.com', $d ) );
		foreach ( array( 'endpoints.huggingface.cloud', 'xendpoints.huggingface.cloud', 'inference.ml.azure.com', 'xinference.ml.azure.com', 'xapi.fireworks.ai', 'x.models.github.ai', 'models.github.ai.evil.example', 'a.endpoints.huggingface.cloud.evil.example', 'a.inference.ml.azure.com.evil.example' ) as $host ) {
			$this->assertNull( Sovgate_Hosts::match( $host, $d ), $host );
		}
		foreach ( array( '*.api.fireworks.ai', 'models.github.ai', '*.endpoints.huggingface.cloud', '*.inference.ml.azure.com' ) as $pattern ) {
			$this->assertTrue( Sovgate_Hosts::is_valid_pattern( $pattern ), $pattern );
		}
	}

	public function test_dash_wildcards() {
		$invalid = array();
		$list    = Sovgate_Hosts::parse_list( "*-llm.example.org\n*-com\n*-\n*-x.", $invalid );
		$this->assertSame( array( '*-llm.example.org' ), $list );
		$this->assertSame( array( '*-com', '*-', '*-x' ), $invalid );
		$this->assertSame( '*-llm.example.org', Sovgate_Hosts::match( 'eu-west-llm.example.org', $list ) );
		$this->assertNull( Sovgate_Hosts::match( 'llm.example.org', $list ) );
	}

	public function test_regional_bedrock_endpoints_are_defaults() {
		$d = Sovgate_Hosts::DEFAULTS;
		foreach ( array( 'bedrock-runtime.us-east-1.amazonaws.com', 'bedrock-runtime.eu-central-1.amazonaws.com', 'BEDROCK-RUNTIME.eu-west-3.amazonaws.com.', 'bedrock-runtime-fips.us-east-1.amazonaws.com', 'bedrock.us-west-2.amazonaws.com', 'bedrock-agent-runtime.ap-northeast-1.amazonaws.com' ) as $host ) {
			$this->assertNotNull( Sovgate_Hosts::match( $host, $d ), $host );
			$this->assertSame( Sovgate_Hosts::canonical( $host ), Sovgate_Hosts::ai_host( 'https://' . $host . '/model/x/converse', $d ), $host );
		}
		foreach ( array( 's3.us-east-1.amazonaws.com', 'bedrock-runtime.amazonaws.com', 'bedrock-runtime..amazonaws.com', 'bedrock-runtime.a.b.amazonaws.com', 'xbedrock-runtime.us-east-1.amazonaws.com', 'bedrock-runtime.us-east-1.amazonaws.com.evil.example' ) as $host ) {
			$this->assertNull( Sovgate_Hosts::match( $host, $d ), $host );
		}
	}

	public function test_a_wildcard_label_in_the_middle() {
		$invalid = array();
		$list    = Sovgate_Hosts::parse_list( "llm.*.example.org\na.*.com\n*.*.example.org\nllm.*\nllm.*x.example.org", $invalid );
		$this->assertSame( array( 'llm.*.example.org' ), $list );
		$this->assertSame( array( 'a.*.com', '*.*.example.org', 'llm.*', 'llm.*x.example.org' ), $invalid );
		$this->assertSame( 'llm.*.example.org', Sovgate_Hosts::match( 'llm.eu-1.example.org', $list ) );
		$this->assertNull( Sovgate_Hosts::match( 'llm.example.org', $list ) );
		$this->assertNull( Sovgate_Hosts::match( 'llm.a.b.example.org', $list ) );
		$this->assertNull( Sovgate_Hosts::match( 'x.llm.eu.example.org', $list ) );
	}

	/**
	 * URLs whose host WordPress's Requests library (and cURL) would read differently from
	 * a plain parse_url(): each must be matched as the provider it really reaches.
	 */
	public function test_percent_encoded_and_odd_hosts_are_matched_as_requests_connects() {
		$d = Sovgate_Hosts::DEFAULTS;
		foreach ( array(
			'https://api%2eopenai.com/v1/chat/completions',
			'https://api%2Eopenai%2Ecom/v1/chat/completions',
			'https://%61pi.openai.com/v1/chat/completions',
			'https://API%2eOPENAI.COM./v1/chat/completions',
			'https://api.openai.com../v1/chat/completions',
		) as $url ) {
			$this->assertSame( 'api.openai.com', Sovgate_Hosts::host_of( $url ), $url );
			$this->assertSame( 'api.openai.com', Sovgate_Hosts::ai_host( $url, $d ), $url );
			$this->assertSame( 'api.openai.com', self::requests_host( $url ), 'what Requests and cURL connect to: ' . $url );
		}
		$this->assertSame( 'x.openai.azure.com', Sovgate_Hosts::ai_host( 'https://x%2Eopenai%2Eazure%2Ecom/openai/v1/chat/completions', $d ) );
		$this->assertNull( Sovgate_Hosts::ai_host( 'https://example.com/v1/chat/completions', $d ) );
		$this->assertNull( Sovgate_Hosts::ai_host( 'https://api%2eopenai.com.evil.example/v1', $d ) );
	}

	public function test_international_names_are_compared_in_ascii() {
		$this->assertSame( 'xn--bcher-kva.example', Sovgate_Hosts::host_of( 'https://bücher.example/' ) );
		$this->assertSame( 'xn--bcher-kva.example', Sovgate_Hosts::host_of( 'https://b%C3%BCcher.example/' ) );
		$this->assertSame( self::requests_host( 'https://bücher.example/' ), Sovgate_Hosts::host_of( 'https://bücher.example/' ) );
		$list = Sovgate_Hosts::parse_list( 'xn--bcher-kva.example' );
		$this->assertSame( 'xn--bcher-kva.example', Sovgate_Hosts::ai_host( 'https://bücher.example/v1', $list ) );
	}

	public function test_hosts_that_cannot_be_read_count_as_ai_hosts() {
		$d = Sovgate_Hosts::DEFAULTS;
		foreach ( array(
			'https://api.openai.com%00.example/v1/chat/completions',
			'https://api%252eopenai.com/v1/chat/completions',
			'https://api.openai.com:99999/v1/chat/completions',
			'https:///v1/chat/completions',
			'https://exa mple.com/v1',
		) as $url ) {
			$this->assertNull( Sovgate_Hosts::host_of( $url ), $url );
			$host = Sovgate_Hosts::ai_host( $url, $d );
			$this->assertNotNull( $host, $url );
			$this->assertMatchesRegularExpression( '/^[\x21-\x7e]+$/', $host, 'printable, for the mark and the logs' );
		}
		$this->assertSame( '', Sovgate_Hosts::host_of( 'not a url' ) );
		$this->assertNull( Sovgate_Hosts::ai_host( 'not a url', $d ) );
		$this->assertNull( Sovgate_Hosts::ai_host( '', $d ) );
	}

	/**
	 * The host WordPress's Requests library connects to: its IRI parser and IDNA encoder
	 * (Requests::set_defaults()), then the percent-decoding, lower case and trailing-dot
	 * handling of cURL's own URL parser.
	 *
	 * @param string $url A URL.
	 * @return string
	 */
	private static function requests_host( $url ) {
		$iri = class_exists( '\WpOrg\Requests\Iri' ) ? new \WpOrg\Requests\Iri( $url ) : new Requests_IRI( $url );
		$idn = class_exists( '\WpOrg\Requests\IdnaEncoder' ) ? '\WpOrg\Requests\IdnaEncoder' : 'Requests_IDNAEncoder';
		return rtrim( strtolower( rawurldecode( $idn::encode( $iri->ihost ) ) ), '.' );
	}
}
