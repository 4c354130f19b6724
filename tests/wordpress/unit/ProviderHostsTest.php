<?php
/**
 * Providers intercepted by default besides the big ones: Fireworks AI (`api.fireworks.ai`
 * and its other hosts `*.api.fireworks.ai`), Replicate, Hugging Face (serverless
 * inference, its router, Inference Endpoints `*.endpoints.huggingface.cloud`), GitHub
 * Models (`models.github.ai`), Azure AI model inference (serverless
 * `*.models.ai.azure.com`, Foundry `*.services.ai.azure.com`, `*.inference.ai.azure.com`)
 * and Azure Machine Learning online endpoints (`*.inference.ml.azure.com`). Per host: a
 * call to it is intercepted, rerouted to the gateway where it speaks an API the gateway
 * serves (OpenAI-compatible) and refused where it does not (Replicate's prediction API,
 * Hugging Face's own inference API, TGI's `/generate`, Azure ML's `/score`, Fireworks'
 * audio API …); its credentials never reach the gateway; and a lookalike host is left
 * alone. The calls go
 * through the interception's real hooks (`http_request_args`, `pre_http_request`,
 * `http_api_curl`) as WP_Http::request() runs them.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class ProviderHostsTest extends TestCase {

	const GATEWAY = 'https://127.0.0.1:9';

	const KEY = 'sg-site-key-0123456789';

	const BODY = '{"model":"m","messages":[{"role":"user","content":"Write to jane@example.com"}]}';

	protected function setUp(): void {
		sg_wp_reset(
			array(
				'gateway_url' => self::GATEWAY . '/v1',
				'api_key'     => self::KEY,
				'ca_bundle'   => __FILE__,
			)
		);
	}

	/**
	 * A call's arguments after `http_request_args`, and what `pre_http_request` made of it
	 * (false: it goes on to the transport, where the cURL handle is rerouted).
	 *
	 * @param string $url     The provider URL.
	 * @param array  $headers The plugin's headers (with the provider's credentials).
	 * @return array{0: array, 1: mixed}
	 */
	private static function call( $url, array $headers ) {
		$args = Sovgate_Interceptor::request_args(
			array(
				'method'    => 'POST',
				'headers'   => $headers,
				'body'      => self::BODY,
				'sslverify' => false,
			),
			$url
		);
		return array( $args, Sovgate_Interceptor::pre_http_request( false, $args, $url ) );
	}

	/**
	 * Asserts that a call is rerouted to the gateway's $path, with the site key and
	 * without any of the provider's credentials (every secret contains "SECRET").
	 *
	 * @param string $url     The provider URL.
	 * @param array  $headers The plugin's headers.
	 * @param string $path    The gateway path expected.
	 * @param string $host    The provider host expected in X-Sovgate-Provider.
	 * @return array The target (url, headers, body).
	 */
	private function assert_rerouted( $url, array $headers, $path, $host ) {
		list( $args, $pre ) = self::call( $url, $headers );
		$this->assertArrayHasKey( 'sovgate', $args, $url );
		$this->assertTrue( $args['sovgate']['routed'], $url );
		$this->assertSame( $host, $args['sovgate']['host'], $url );
		$this->assertTrue( $args['sslverify'], $url );
		$this->assertFalse( $pre, 'not blocked: ' . $url );
		$target = Sovgate_Interceptor::target( $args, $url );
		$this->assertSame( self::GATEWAY . $path, $target['url'], $url );
		$this->assertSame( 'Bearer ' . self::KEY, $target['headers']['Authorization'], $url );
		$this->assertSame( $host, $target['headers']['X-Sovgate-Provider'], $url );
		$sent = $target['url'] . "\n" . implode( "\n", Sovgate_Mapper::flatten( $target['headers'] ) ) . "\n" . $target['body'];
		$this->assertStringNotContainsString( 'SECRET', $sent, 'a provider credential reached the gateway: ' . $url );
		// The handle WordPress's cURL transport would use is pointed at the gateway, not killed.
		$events = count( Sovgate_Events::all() );
		$handle = curl_init( $url );
		Sovgate_Interceptor::reroute_curl( $handle, $args, $url );
		Sovgate_Interceptor::recheck_curl( $handle, $args, $url );
		curl_close( $handle );
		$this->assertCount( $events, Sovgate_Events::all(), 'the cURL handle was rerouted, not stopped: ' . $url );
		return $target;
	}

	/**
	 * Asserts that a call to an API the gateway does not serve is refused before anything
	 * is sent (enforce and monitor mode), and that its cURL handle, should a later filter
	 * let the call through anyway, goes nowhere.
	 *
	 * @param string $url     The provider URL.
	 * @param array  $headers The plugin's headers.
	 * @param string $host    The provider host expected.
	 */
	private function assert_refused( $url, array $headers, $host ) {
		foreach ( array( 'enforce', 'monitor' ) as $mode ) {
			sg_wp_reset(
				array(
					'gateway_url' => self::GATEWAY . '/v1',
					'api_key'     => self::KEY,
					'mode'        => $mode,
				)
			);
			list( $args, $pre ) = self::call( $url, $headers );
			$this->assertArrayHasKey( 'sovgate', $args, $url );
			$this->assertSame( $host, $args['sovgate']['host'], $url );
			$this->assertInstanceOf( WP_Error::class, $pre, $mode . ': not refused: ' . $url );
			$this->assertSame( 'sovgate_blocked', $pre->get_error_code(), $url );
			$this->assertSame( array( 'reason' => 'not_served' ), $pre->get_error_data(), $url );
			$this->assertStringContainsString( $host, $pre->get_error_message() );
			$this->assertStringNotContainsString( 'SECRET', $pre->get_error_message() );
			$events = Sovgate_Events::all();
			$this->assertSame( array( 'blocked', $host ), array( $events[0]['type'], $events[0]['host'] ), $url );

			// Had a later pre_http_request filter let it through: the handle is stopped
			// before it resolves or connects (no site key, no body, nothing sent).
			$handle = curl_init( $url );
			curl_setopt( $handle, CURLOPT_RETURNTRANSFER, true );
			curl_setopt( $handle, CURLOPT_CONNECTTIMEOUT, 2 );
			Sovgate_Interceptor::reroute_curl( $handle, $args, $url );
			Sovgate_Interceptor::recheck_curl( $handle, $args, $url );
			$this->assertFalse( curl_exec( $handle ), $url );
			$this->assertSame( CURLE_UNSUPPORTED_PROTOCOL, curl_errno( $handle ), $mode . ': the handle was not stopped: ' . $url );
			curl_close( $handle );
			$error = new WP_Error( 'http_request_failed', 'cURL error 1: Protocol not supported' );
			Sovgate_Interceptor::explain_error( $error, 'response', 'Requests', $args, $url );
			$this->assertSame( 'sovgate_blocked', $error->get_error_code(), $url );
		}
		$this->setUp();
	}

	/**
	 * Asserts that lookalike hosts are not taken for AI hosts.
	 *
	 * @param string[] $hosts Host names.
	 */
	private function assert_not_intercepted( array $hosts ) {
		foreach ( $hosts as $host ) {
			$url = 'https://' . $host . '/v1/chat/completions';
			$this->assertNull( Sovgate_Hosts::ai_host( $url, Sovgate_Hosts::DEFAULTS ), $host );
			$this->assertArrayNotHasKey( 'sovgate', Sovgate_Interceptor::request_args( array(), $url ), $host );
			$this->assertFalse( Sovgate_Interceptor::pre_http_request( false, array(), $url ), $host );
		}
	}

	public function test_fireworks_ai() {
		$auth = array(
			'Authorization' => 'Bearer fw_SECRET',
			'Content-Type'  => 'application/json',
		);
		$this->assert_rerouted( 'https://api.fireworks.ai/inference/v1/chat/completions', $auth, '/v1/chat/completions', 'api.fireworks.ai' );
		$this->assert_rerouted( 'https://API.Fireworks.AI./inference/v1/completions', $auth, '/v1/completions', 'api.fireworks.ai' );
		$this->assert_rerouted( 'https://api.fireworks.ai/inference/v1/embeddings', $auth, '/v1/embeddings', 'api.fireworks.ai' );
		$this->assert_rerouted( 'https://api.fireworks.ai/inference/v1/models', array( 'authorization: Bearer fw_SECRET' ), '/v1/models', 'api.fireworks.ai' );
		$this->assert_not_intercepted( array( 'api.fireworks.ai.evil.example', 'fireworks.ai.example.com', 'xapi.fireworks.ai', 'api-fireworks.ai', 'fireworks.ai' ) );
	}

	public function test_replicate() {
		foreach ( array( 'Bearer r8_SECRET', 'Token r8_SECRET' ) as $auth ) {
			$headers = array(
				'Authorization' => $auth,
				'Content-Type'  => 'application/json',
				'Prefer'        => 'wait',
			);
			$this->assert_refused( 'https://api.replicate.com/v1/predictions', $headers, 'api.replicate.com' );
			$this->assert_refused( 'https://api.replicate.com/v1/models/meta/meta-llama-3-8b-instruct/predictions', $headers, 'api.replicate.com' );
			$this->assert_refused( 'https://api.replicate.com/v1/deployments/shop/llm/predictions', $headers, 'api.replicate.com' );
			// Not even a path that looks like an OpenAI endpoint: Replicate has none.
			$this->assert_refused( 'https://api.replicate.com/v1/models', $headers, 'api.replicate.com' );
		}
		$this->assert_not_intercepted( array( 'api.replicate.com.evil.example', 'replicate.com.example.com', 'xapi.replicate.com', 'api-replicate.com' ) );
	}

	public function test_hugging_face_serverless_inference() {
		$auth  = array(
			'Authorization' => 'Bearer hf_SECRET',
			'X-HF-Bill-To'  => 'shop-org',
		);
		$model = 'meta-llama/Meta-Llama-3-8B-Instruct';
		// Its OpenAI-compatible route names the model in the path (like an Azure deployment).
		$target = $this->assert_rerouted( 'https://api-inference.huggingface.co/models/' . $model . '/v1/chat/completions', $auth, '/v1/chat/completions', 'api-inference.huggingface.co' );
		$this->assertSame( $model, json_decode( $target['body'], true )['model'] );
		$this->assertArrayNotHasKey( 'X-HF-Bill-To', $target['headers'] );
		// Its own inference API is not one the gateway serves.
		$this->assert_refused( 'https://api-inference.huggingface.co/models/' . $model, $auth, 'api-inference.huggingface.co' );
		$this->assert_refused( 'https://api-inference.huggingface.co/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2', $auth, 'api-inference.huggingface.co' );
		$this->assert_not_intercepted( array( 'api-inference.huggingface.co.evil.example', 'huggingface.co.example.com', 'xapi-inference.huggingface.co', 'api-inference-huggingface.co' ) );
	}

	public function test_hugging_face_router() {
		$auth = array( 'Authorization' => 'Bearer hf_SECRET' );
		$this->assert_rerouted( 'https://router.huggingface.co/v1/chat/completions', $auth, '/v1/chat/completions', 'router.huggingface.co' );
		$this->assert_rerouted( 'https://router.huggingface.co/v1/models', $auth, '/v1/models', 'router.huggingface.co' );
		$this->assert_rerouted( 'https://router.huggingface.co/together/v1/chat/completions', $auth, '/v1/chat/completions', 'router.huggingface.co' );
		$this->assert_rerouted( 'https://router.huggingface.co/novita/v3/openai/chat/completions', $auth, '/v1/chat/completions', 'router.huggingface.co' );
		$target = $this->assert_rerouted( 'https://router.huggingface.co/hf-inference/models/Qwen/Qwen2.5-7B-Instruct/v1/chat/completions', $auth, '/v1/chat/completions', 'router.huggingface.co' );
		$this->assertSame( 'Qwen/Qwen2.5-7B-Instruct', json_decode( $target['body'], true )['model'] );
		$this->assert_refused( 'https://router.huggingface.co/hf-inference/models/Qwen/Qwen2.5-7B-Instruct', $auth, 'router.huggingface.co' );
		$this->assert_refused( 'https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction', $auth, 'router.huggingface.co' );
		$this->assert_refused( 'https://router.huggingface.co/fal-ai/fal-ai/flux/dev', $auth, 'router.huggingface.co' );
		$this->assert_not_intercepted( array( 'router.huggingface.co.evil.example', 'huggingface.co.example.com', 'xrouter.huggingface.co', 'router-huggingface.co' ) );
	}

	public function test_azure_ai_serverless_models() {
		$auth = array(
			'api-key'       => 'azure-SECRET',
			'Authorization' => 'Bearer azure-SECRET',
		);
		$host = 'shop-llama.eastus2.models.ai.azure.com';
		$this->assert_rerouted( 'https://' . $host . '/chat/completions', $auth, '/v1/chat/completions', $host );
		$this->assert_rerouted( 'https://' . $host . '/v1/chat/completions?api-version=2024-05-01-preview', $auth, '/v1/chat/completions', $host );
		$this->assert_rerouted( 'https://shop-embed.westeurope.models.ai.azure.com/embeddings', $auth, '/v1/embeddings', 'shop-embed.westeurope.models.ai.azure.com' );
		$this->assert_not_intercepted( array( 'models.ai.azure.com', 'shop.models.ai.azure.com.evil.example', 'models.ai.azure.com.example.com', 'evilmodels.ai.azure.com', 'shop.models-ai.azure.com' ) );
	}

	public function test_azure_ai_foundry_services() {
		$auth = array(
			'api-key'                   => 'azure-SECRET',
			'Ocp-Apim-Subscription-Key' => 'azure-SECRET',
		);
		$host = 'shop.services.ai.azure.com';
		$this->assert_rerouted( 'https://' . $host . '/models/chat/completions?api-version=2024-05-01-preview', $auth, '/v1/chat/completions', $host );
		$this->assert_rerouted( 'https://' . $host . '/models/embeddings?api-version=2024-05-01-preview', $auth, '/v1/embeddings', $host );
		$target = $this->assert_rerouted( 'https://' . $host . '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', $auth, '/v1/chat/completions', $host );
		$this->assertSame( 'gpt-4o-mini', json_decode( $target['body'], true )['model'] );
		$this->assert_not_intercepted( array( 'services.ai.azure.com', 'shop.services.ai.azure.com.evil.example', 'services.ai.azure.com.example.com', 'evilservices.ai.azure.com' ) );
	}

	public function test_azure_ai_inference() {
		$auth = array( 'Authorization' => 'Bearer ghp_SECRET' );
		$host = 'models.inference.ai.azure.com';
		$this->assert_rerouted( 'https://' . $host . '/chat/completions', $auth, '/v1/chat/completions', $host );
		$this->assert_rerouted( 'https://' . $host . '/embeddings', $auth, '/v1/embeddings', $host );
		$this->assert_rerouted( 'https://eastus.inference.ai.azure.com/v1/chat/completions', array( 'api-key' => 'azure-SECRET' ), '/v1/chat/completions', 'eastus.inference.ai.azure.com' );
		$this->assert_not_intercepted( array( 'inference.ai.azure.com', 'models.inference.ai.azure.com.evil.example', 'inference.ai.azure.com.example.com', 'modelsinference.ai.azure.com' ) );
	}

	public function test_fireworks_ai_other_hosts() {
		foreach ( array( 'Bearer fw_SECRET', 'fw_SECRET' ) as $key ) {
			$auth = array(
				'Authorization' => $key,
				'Content-Type'  => 'multipart/form-data; boundary=x',
			);
			// Fireworks' audio hosts: an API the gateway does not serve.
			$this->assert_refused( 'https://audio-prod.api.fireworks.ai/v1/audio/transcriptions', $auth, 'audio-prod.api.fireworks.ai' );
			$this->assert_refused( 'https://audio-turbo.api.fireworks.ai/v1/audio/translations', $auth, 'audio-turbo.api.fireworks.ai' );
			$this->assert_refused( 'https://Audio-Prod.API.fireworks.ai./v1/audio/transcriptions', $auth, 'audio-prod.api.fireworks.ai' );
			$this->assert_refused( 'https://audio-prod.api%2efireworks.ai/v1/audio/transcriptions', $auth, 'audio-prod.api.fireworks.ai' );
			$this->assert_refused( 'https://audio-prod.api.fireworks.ai/', $auth, 'audio-prod.api.fireworks.ai' );
		}
		// Their OpenAI-compatible endpoints, should one have them, are rerouted.
		$auth = array( 'Authorization' => 'Bearer fw_SECRET' );
		$this->assert_rerouted( 'https://eu.api.fireworks.ai/inference/v1/chat/completions', $auth, '/v1/chat/completions', 'eu.api.fireworks.ai' );
		$this->assert_rerouted( 'https://eu.api.fireworks.ai/inference/v1/embeddings', $auth, '/v1/embeddings', 'eu.api.fireworks.ai' );
		// api.fireworks.ai itself is no native host: the wildcard does not match its domain.
		$this->assertFalse( Sovgate_Mapper::not_served( 'https://api.fireworks.ai/inference/v1/chat/completions' ) );
		$this->assert_not_intercepted( array( 'audio-prod.api.fireworks.ai.evil.example', 'audio-prod.xapi.fireworks.ai', 'audio-prod.api-fireworks.ai', 'audio-prod.apifireworks.ai', 'audio-prod.fireworks.ai', 'api.fireworks.ai.example.com' ) );
	}

	public function test_github_models() {
		$host = 'models.github.ai';
		foreach ( array( 'Bearer ghp_SECRET0123456789abcdefghijklmnopqr', 'Bearer github_pat_11SECRET0123456789_abcdefghijklmnopqrstuvwxyz', 'token ghp_SECRET0123456789abcdefghijklmnopqr' ) as $token ) {
			$auth = array(
				'Authorization'        => $token,
				'Accept'               => 'application/vnd.github+json',
				'X-GitHub-Api-Version' => '2022-11-28',
				'Content-Type'         => 'application/json',
			);
			$this->assert_rerouted( 'https://models.github.ai/inference/chat/completions', $auth, '/v1/chat/completions', $host );
			$this->assert_rerouted( 'https://models.github.ai/inference/embeddings', $auth, '/v1/embeddings', $host );
			$this->assert_rerouted( 'https://models.github.ai/orgs/shop-org/inference/chat/completions', $auth, '/v1/chat/completions', $host );
			$this->assert_rerouted( 'https://Models.GitHub.AI./inference/chat/completions?api-version=2024-12-01-preview', $auth, '/v1/chat/completions', $host );
			// A token in the query (GitHub's old access_token parameter) is not sent on either.
			$this->assert_rerouted( 'https://models.github.ai/inference/chat/completions?access_token=ghp_SECRET', array( 'Content-Type' => 'application/json' ), '/v1/chat/completions', $host );
			// GitHub's own APIs on the host (the model catalog, whose listing is not OpenAI's),
			// and paths that merely end in an OpenAI endpoint, are refused.
			$this->assert_refused( 'https://models.github.ai/catalog/models', $auth, $host );
			$this->assert_refused( 'https://models.github.ai/', $auth, $host );
			$this->assert_refused( 'https://models.github.ai/v1/chat/completions', $auth, $host );
			$this->assert_refused( 'https://models.github.ai/inference/models', $auth, $host );
			$this->assert_refused( 'https://models.github.ai/orgs/shop-org/team/inference/chat/completions', $auth, $host );
			$this->assert_refused( 'https://models.github.ai/openai/deployments/gpt-4o/chat/completions', $auth, $host );
		}
		$this->assert_not_intercepted( array( 'models.github.ai.evil.example', 'xmodels.github.ai', 'eu.models.github.ai', 'models-github.ai', 'github.ai', 'models.github.ai.example.com' ) );
	}

	public function test_hugging_face_inference_endpoints() {
		$auth = array(
			'Authorization' => 'Bearer hf_SECRET',
			'X-HF-Bill-To'  => 'shop-org',
		);
		$host = 'abc123xyz.us-east-1.aws.endpoints.huggingface.cloud';
		// TGI's (and TEI's, vLLM's) OpenAI-compatible routes.
		$this->assert_rerouted( 'https://' . $host . '/v1/chat/completions', $auth, '/v1/chat/completions', $host );
		$this->assert_rerouted( 'https://' . $host . '/v1/completions', $auth, '/v1/completions', $host );
		$this->assert_rerouted( 'https://' . $host . '/v1/embeddings', $auth, '/v1/embeddings', $host );
		$target = $this->assert_rerouted( 'https://ABC123XYZ.us-east-1.aws.endpoints.huggingface.cloud./v1/chat/completions/', $auth, '/v1/chat/completions', $host );
		$this->assertArrayNotHasKey( 'X-HF-Bill-To', $target['headers'] );
		// Their own API: refused.
		foreach ( array( '/', '', '/generate', '/generate_stream', '/invocations', '/embed', '/info', '/tokenize', '/models/meta-llama/Meta-Llama-3-8B-Instruct/v1/chat/completions', '/custom/chat/completions' ) as $path ) {
			$this->assert_refused( 'https://' . $host . $path, $auth, $host );
		}
		$this->assert_refused( 'https://abc123xyz.us-east-1.aws.endpoints%2Ehuggingface.cloud/generate', $auth, $host );
		$this->assert_not_intercepted( array( 'endpoints.huggingface.cloud', 'xendpoints.huggingface.cloud', 'abc.xendpoints.huggingface.cloud', 'abc.endpoints.huggingface.cloud.evil.example', 'abc.endpoints-huggingface.cloud', 'abc.endpoints.huggingface.co', 'huggingface.cloud' ) );
	}

	public function test_azure_machine_learning_online_endpoints() {
		$auth = array(
			'Authorization'            => 'Bearer azureml-SECRET',
			'api-key'                  => 'azureml-SECRET',
			'azureml-model-deployment' => 'blue',
		);
		$host = 'shop-llm.westeurope.inference.ml.azure.com';
		$this->assert_rerouted( 'https://' . $host . '/v1/chat/completions', $auth, '/v1/chat/completions', $host );
		$this->assert_rerouted( 'https://' . $host . '/v1/completions', $auth, '/v1/completions', $host );
		$this->assert_rerouted( 'https://shop-llm.inference.ml.azure.com/v1/embeddings', $auth, '/v1/embeddings', 'shop-llm.inference.ml.azure.com' );
		// The scoring API and everything else the endpoint's own code may answer: refused.
		foreach ( array( '/score', '/score?verbose=true', '/', '/swagger.json', '/chat/completions', '/models/chat/completions', '/openai/deployments/gpt-4o/chat/completions', '/score/v1/chat/completions' ) as $path ) {
			$this->assert_refused( 'https://' . $host . $path, $auth, $host );
		}
		$this->assert_refused( 'https://SHOP-LLM.westeurope.inference%2eml.azure.com./score', $auth, $host );
		$this->assert_not_intercepted( array( 'inference.ml.azure.com', 'xinference.ml.azure.com', 'shop.inference.ml.azure.com.evil.example', 'shop.inference-ml.azure.com', 'shop.inference.ml.azure.com.example', 'shop.ml.azure.com' ) );
	}
}
