<?php
/**
 * Sovgate as a php-ai-client provider: OpenAI's wire format, the gateway's base URL.
 * Loaded only when php-ai-client and its OpenAI provider are present.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

use WordPress\AiClient\ProviderImplementations\OpenAi\OpenAiProvider;
use WordPress\AiClient\Providers\DTO\ProviderMetadata;
use WordPress\AiClient\Providers\Enums\ProviderTypeEnum;

/**
 * The provider.
 */
class Sovgate_Ai_Client_Provider extends OpenAiProvider {

	/**
	 * The gateway's OpenAI base URL.
	 *
	 * @return string
	 */
	protected static function baseUrl(): string { // phpcs:ignore WordPress.NamingConventions.ValidFunctionName.MethodNameInvalid -- the library's method name.
		return Sovgate_Settings::gateway_base() . '/v1';
	}

	/**
	 * The provider's id and name.
	 *
	 * @return ProviderMetadata
	 */
	protected static function createProviderMetadata(): ProviderMetadata { // phpcs:ignore WordPress.NamingConventions.ValidFunctionName.MethodNameInvalid -- the library's method name.
		return new ProviderMetadata( 'sovgate', __( 'Sovgate (the shop\'s AI gateway)', 'sovgate' ), ProviderTypeEnum::server() );
	}
}
