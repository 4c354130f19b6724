<?php
/**
 * Registers Sovgate as a provider in WordPress's AI client (php-ai-client) and in the AI
 * Services plugin where they are present; does nothing where they are absent.
 *
 * Both send their calls through WordPress's HTTP API, so the interception reroutes them
 * anyway; the registration lets a site choose "Sovgate" explicitly, and the key those
 * libraries hold for it is only a placeholder (the interception sends the site key).
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * AI library integrations.
 */
final class Sovgate_Providers {

	/**
	 * Adds the hooks.
	 */
	public static function register() {
		add_action( 'init', array( __CLASS__, 'register_php_ai_client' ), 20 );
		add_action( 'ai_services_load_services_api', array( __CLASS__, 'register_ai_services' ) );
		add_action( 'plugins_loaded', array( __CLASS__, 'register_ai_services_late' ), 20 );
	}

	/**
	 * php-ai-client: a provider class extending its OpenAI provider (same wire format),
	 * with the gateway as base URL.
	 */
	public static function register_php_ai_client() {
		if ( ! class_exists( '\WordPress\AiClient\AiClient' ) || ! class_exists( '\WordPress\AiClient\ProviderImplementations\OpenAi\OpenAiProvider' ) || ! Sovgate_Settings::is_configured() ) {
			return;
		}
		try {
			require_once SOVGATE_DIR . 'includes/integrations/class-sovgate-ai-client-provider.php';
			$registry = \WordPress\AiClient\AiClient::defaultRegistry();
			if ( method_exists( $registry, 'hasProvider' ) && $registry->hasProvider( 'sovgate' ) ) {
				return;
			}
			$registry->registerProvider( Sovgate_Ai_Client_Provider::class );
			if ( class_exists( '\WordPress\AiClient\Providers\Http\DTO\ApiKeyRequestAuthentication' ) && method_exists( $registry, 'setProviderRequestAuthentication' ) ) {
				$registry->setProviderRequestAuthentication( 'sovgate', new \WordPress\AiClient\Providers\Http\DTO\ApiKeyRequestAuthentication( 'sovgate-site-key' ) );
			}
		} catch ( \Throwable $e ) {
			// An incompatible version of the library: skip quietly (interception still applies).
			return;
		}
	}

	/**
	 * AI Services (the plugin's `ai_services()` API): a "sovgate" service built on its
	 * OpenAI service class.
	 */
	public static function register_ai_services() {
		static $done = false;
		if ( $done || ! function_exists( 'ai_services' ) || ! Sovgate_Settings::is_configured() ) {
			return;
		}
		$class = '';
		foreach ( array( '\Felix_Arntz\AI_Services\OpenAI\OpenAI_AI_Service', '\Felix_Arntz\AI_Services\Services\OpenAI\OpenAI_AI_Service' ) as $candidate ) {
			if ( class_exists( $candidate ) ) {
				$class = $candidate;
				break;
			}
		}
		if ( '' === $class ) {
			return;
		}
		try {
			$api = ai_services();
			if ( ! is_object( $api ) || ! method_exists( $api, 'register_service' ) ) {
				return;
			}
			$api->register_service(
				'sovgate',
				static function ( $authentication, $http ) use ( $class ) {
					return new $class( $authentication, $http );
				},
				array(
					'name'           => __( 'Sovgate (the shop\'s AI gateway)', 'sovgate' ),
					'allow_override' => false,
				)
			);
			$done = true;
		} catch ( \Throwable $e ) {
			return;
		}
	}

	/**
	 * AI Services versions without the load action.
	 */
	public static function register_ai_services_late() {
		self::register_ai_services();
	}
}
