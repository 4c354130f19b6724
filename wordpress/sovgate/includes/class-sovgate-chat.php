<?php
/**
 * The product question chat: the REST route /wp-json/sovgate/v1/chat (the browser never
 * holds a key; the site asks the gateway), the [sovgate_chat] shortcode and the
 * "Sovgate product chat" block.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Chat route, shortcode and block.
 */
final class Sovgate_Chat {

	const NONCE = 'sovgate_chat';

	const MAX_MESSAGES = 20;

	const MAX_CHARS = 2000;

	const WINDOW = 600;

	/**
	 * Adds the hooks.
	 */
	public static function register() {
		add_action( 'rest_api_init', array( __CLASS__, 'routes' ) );
		add_action( 'init', array( __CLASS__, 'init' ) );
	}

	/**
	 * Scripts, the shortcode and the block.
	 */
	public static function init() {
		$url = plugins_url( 'assets/', SOVGATE_FILE );
		wp_register_script( 'sovgate-chat', $url . 'chat.js', array(), SOVGATE_VERSION, true );
		wp_localize_script(
			'sovgate-chat',
			'sovgateChat',
			array(
				'error'    => __( 'The assistant is not available right now. Please try again later.', 'sovgate' ),
				'thinking' => __( '…', 'sovgate' ),
			)
		);
		wp_register_style( 'sovgate-chat', $url . 'chat.css', array(), SOVGATE_VERSION );
		wp_register_script( 'sovgate-chat-block', $url . 'block.js', array( 'wp-blocks', 'wp-element', 'wp-block-editor', 'wp-components', 'wp-i18n' ), SOVGATE_VERSION, true );
		wp_set_script_translations( 'sovgate-chat-block', 'sovgate' );
		add_shortcode( 'sovgate_chat', array( __CLASS__, 'shortcode' ) );
		register_block_type(
			'sovgate/chat',
			array(
				'api_version'     => 2,
				'editor_script'   => 'sovgate-chat-block',
				'render_callback' => array( __CLASS__, 'render_block' ),
				'attributes'      => array(
					'product' => array(
						'type'    => 'number',
						'default' => 0,
					),
					'title'   => array(
						'type'    => 'string',
						'default' => '',
					),
				),
			)
		);
	}

	/**
	 * The REST route.
	 */
	public static function routes() {
		register_rest_route(
			'sovgate/v1',
			'/chat',
			array(
				'methods'             => 'POST',
				'callback'            => array( __CLASS__, 'handle' ),
				'permission_callback' => array( __CLASS__, 'permission' ),
				'args'                => array(
					'messages' => array(
						'type'     => 'array',
						'required' => true,
					),
					'product'  => array(
						'type'    => 'integer',
						'default' => 0,
					),
					'stream'   => array(
						'type'    => 'boolean',
						'default' => false,
					),
				),
			)
		);
	}

	/**
	 * Who may ask: a valid chat nonce (X-Sovgate-Nonce) always; then a logged-in user
	 * with the capability (filter `sovgate_chat_capability`, default `read`), or a
	 * visitor within the per-address rate limit when visitors are allowed.
	 *
	 * @param WP_REST_Request $request The request.
	 * @return true|WP_Error
	 */
	public static function permission( $request ) {
		$nonce = (string) $request->get_header( 'x_sovgate_nonce' );
		if ( '' === $nonce || ! wp_verify_nonce( $nonce, self::NONCE ) ) {
			return new WP_Error( 'sovgate_chat_nonce', __( 'This page is out of date. Please reload it and ask again.', 'sovgate' ), array( 'status' => 403 ) );
		}
		if ( is_user_logged_in() ) {
			/**
			 * Filters the capability a logged-in user needs to use the chat.
			 *
			 * @param string $capability Default `read`.
			 */
			$cap = (string) apply_filters( 'sovgate_chat_capability', 'read' );
			if ( current_user_can( $cap ) ) {
				return true;
			}
			return new WP_Error( 'rest_forbidden', __( 'Sorry, you are not allowed to use the chat.', 'sovgate' ), array( 'status' => 403 ) );
		}
		if ( ! Sovgate_Settings::get( 'chat_public' ) ) {
			return new WP_Error( 'rest_forbidden', __( 'Please log in to use the chat.', 'sovgate' ), array( 'status' => 401 ) );
		}
		return self::rate_limit();
	}

	/**
	 * Refuses a visitor past the limit of questions per address and window. Counting is
	 * done by count_visitor() when a question is answered (WordPress may call permission
	 * callbacks more than once per request, e.g. for the Allow header).
	 *
	 * @return true|WP_Error
	 */
	private static function rate_limit() {
		$seen = self::visitor_count();
		if ( $seen['count'] >= (int) Sovgate_Settings::get( 'chat_rate_limit' ) ) {
			return new WP_Error( 'sovgate_chat_rate_limited', __( 'You asked many questions in a short time. Please wait a few minutes.', 'sovgate' ), array( 'status' => 429 ) );
		}
		return true;
	}

	/**
	 * The transient that counts a visitor address's questions.
	 *
	 * @return string
	 */
	private static function visitor_key() {
		$ip = isset( $_SERVER['REMOTE_ADDR'] ) ? sanitize_text_field( wp_unslash( $_SERVER['REMOTE_ADDR'] ) ) : '';
		return 'sovgate_chat_' . substr( hash_hmac( 'sha256', $ip, Sovgate_Settings::site_secret() ), 0, 24 );
	}

	/**
	 * The visitor address's count in the current window.
	 *
	 * @return array{since: int, count: int}
	 */
	private static function visitor_count() {
		$seen = get_transient( self::visitor_key() );
		if ( ! is_array( $seen ) || time() - (int) $seen['since'] >= self::WINDOW ) {
			$seen = array(
				'since' => time(),
				'count' => 0,
			);
		}
		return $seen;
	}

	/**
	 * Counts a visitor's question.
	 */
	private static function count_visitor() {
		$seen = self::visitor_count();
		++$seen['count'];
		set_transient( self::visitor_key(), $seen, max( 1, self::WINDOW - ( time() - (int) $seen['since'] ) ) );
	}

	/**
	 * The conversation from the request: user and assistant messages with text, the last
	 * one the user's.
	 *
	 * @param mixed $raw The `messages` parameter.
	 * @return array|WP_Error
	 */
	public static function messages( $raw ) {
		if ( ! is_array( $raw ) || ! $raw ) {
			return new WP_Error( 'sovgate_chat_invalid', __( 'Ask a question.', 'sovgate' ), array( 'status' => 400 ) );
		}
		$out = array();
		foreach ( array_slice( array_values( $raw ), -self::MAX_MESSAGES ) as $m ) {
			$role    = is_array( $m ) ? ( $m['role'] ?? '' ) : '';
			$content = is_array( $m ) ? ( $m['content'] ?? null ) : null;
			if ( ! in_array( $role, array( 'user', 'assistant' ), true ) || ! is_string( $content ) || '' === trim( $content ) ) {
				return new WP_Error( 'sovgate_chat_invalid', __( 'The conversation is not valid.', 'sovgate' ), array( 'status' => 400 ) );
			}
			if ( mb_strlen( $content ) > self::MAX_CHARS ) {
				return new WP_Error( 'sovgate_chat_invalid', __( 'The question is too long.', 'sovgate' ), array( 'status' => 400 ) );
			}
			$out[] = array(
				'role'    => $role,
				'content' => $content,
			);
		}
		if ( 'user' !== end( $out )['role'] ) {
			return new WP_Error( 'sovgate_chat_invalid', __( 'Ask a question.', 'sovgate' ), array( 'status' => 400 ) );
		}
		return $out;
	}

	/**
	 * The system prompt: the shop, and the product (a published, public post only).
	 *
	 * @param int $product_id Post id (0: none).
	 * @return string
	 */
	public static function system_prompt( $product_id ) {
		$prompt = sprintf(
			/* translators: %s: site name. */
			__( 'You answer visitors\' questions about products of the shop %s. Be brief and friendly. Use only the product information below and say so when you do not know.', 'sovgate' ),
			wp_strip_all_tags( get_bloginfo( 'name' ) )
		);
		$post = $product_id > 0 ? get_post( $product_id ) : null;
		if ( $post && 'publish' === $post->post_status && is_post_type_viewable( $post->post_type ) && ! post_password_required( $post ) ) {
			$text    = '' !== $post->post_excerpt ? $post->post_excerpt : $post->post_content;
			$prompt .= "\n\n" . __( 'Product:', 'sovgate' ) . ' ' . wp_strip_all_tags( get_the_title( $post ) ) . "\n" . wp_trim_words( wp_strip_all_tags( strip_shortcodes( $text ) ), 250 );
			if ( function_exists( 'wc_get_product' ) ) {
				$product = wc_get_product( $post );
				if ( $product && '' !== (string) $product->get_price() ) {
					$prompt .= "\n" . __( 'Price:', 'sovgate' ) . ' ' . wp_strip_all_tags( html_entity_decode( wc_price( $product->get_price() ) ) );
				}
			}
		} else {
			$post = null;
		}
		/**
		 * Filters the chat's system prompt.
		 *
		 * @param string       $prompt The prompt.
		 * @param WP_Post|null $post   The product asked about.
		 */
		return (string) apply_filters( 'sovgate_chat_system_prompt', $prompt, $post );
	}

	/**
	 * Answers a question (JSON), or streams the gateway's events through (stream: true).
	 *
	 * @param WP_REST_Request $request The request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function handle( $request ) {
		if ( ! is_user_logged_in() ) {
			self::count_visitor();
		}
		$messages = self::messages( $request['messages'] );
		if ( is_wp_error( $messages ) ) {
			return $messages;
		}
		$body = array(
			'model'      => (string) Sovgate_Settings::get( 'chat_model' ),
			/**
			 * Filters the longest chat answer, in tokens.
			 *
			 * @param int $max_tokens Default 400.
			 */
			'max_tokens' => (int) apply_filters( 'sovgate_chat_max_tokens', 400 ),
			'messages'   => array_merge(
				array(
					array(
						'role'    => 'system',
						'content' => self::system_prompt( (int) $request['product'] ),
					),
				),
				$messages
			),
		);
		if ( $request['stream'] ) {
			self::stream( $body );
			exit;
		}
		$response = Sovgate_Client::request( 'POST', '/v1/chat/completions', $body );
		if ( is_wp_error( $response ) ) {
			Sovgate_Events::record( 'gateway_error', 'chat', Sovgate_Client::SOURCE, $response->get_error_message() );
			return new WP_Error( 'sovgate_chat_unavailable', __( 'The assistant is not available right now. Please try again later.', 'sovgate' ), array( 'status' => 503 ) );
		}
		$code = (int) wp_remote_retrieve_response_code( $response );
		$json = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( 200 !== $code ) {
			return self::gateway_refusal( $code, is_array( $json ) ? $json : array() );
		}
		$answer = $json['choices'][0]['message']['content'] ?? '';
		return rest_ensure_response(
			array(
				'answer'     => is_string( $answer ) ? $answer : '',
				'request_id' => (string) wp_remote_retrieve_header( $response, 'x-request-id' ),
			)
		);
	}

	/**
	 * A visitor-facing error for a gateway refusal (details stay in the event log).
	 *
	 * @param int   $code HTTP status from the gateway.
	 * @param array $json Its error body.
	 * @return WP_Error
	 */
	private static function gateway_refusal( $code, array $json ) {
		$err = isset( $json['error'] ) && is_array( $json['error'] ) ? $json['error'] : array();
		if ( 'content_blocked' === ( $err['code'] ?? '' ) ) {
			return new WP_Error( 'sovgate_chat_blocked', __( 'Your question contains data that cannot be sent to the assistant. Please leave it out.', 'sovgate' ), array( 'status' => 400 ) );
		}
		Sovgate_Events::record( 'gateway_error', 'chat', Sovgate_Client::SOURCE, $code . ' ' . (string) ( $err['message'] ?? '' ) );
		return new WP_Error( 'sovgate_chat_unavailable', __( 'The assistant is not available right now. Please try again later.', 'sovgate' ), array( 'status' => 429 === $code ? 429 : 503 ) );
	}

	/**
	 * Streams the gateway's answer to the browser as it comes (server-sent events,
	 * passed through unchanged); errors become one `{"error": …}` event.
	 *
	 * @param array $body The chat request.
	 */
	private static function stream( array $body ) {
		$body['stream'] = true;
		if ( ! headers_sent() ) {
			status_header( 200 );
			header( 'Content-Type: text/event-stream; charset=utf-8' );
			header( 'Cache-Control: no-cache' );
			header( 'X-Accel-Buffering: no' );
		}
		while ( ob_get_level() > 0 ) {
			ob_end_flush();
		}
		$status = 0;
		$error  = '';
		$sent   = false;
		$hook   = function ( $handle, $args ) use ( &$status, &$error, &$sent ) {
			if ( empty( $args['sovgate_chat_stream'] ) ) {
				return;
			}
			curl_setopt(
				$handle,
				CURLOPT_WRITEFUNCTION,
				function ( $ch, $data ) use ( &$status, &$error, &$sent ) {
					if ( 0 === $status ) {
						$status = (int) curl_getinfo( $ch, CURLINFO_RESPONSE_CODE );
					}
					if ( 200 !== $status ) {
						$error .= strlen( $error ) < 65536 ? $data : '';
						return strlen( $data );
					}
					echo $data; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- the gateway's event stream, passed through as text/event-stream.
					flush();
					$sent = true;
					return strlen( $data );
				}
			);
		};
		$curl = Sovgate_Interceptor::curl_transport( Sovgate_Settings::gateway_base() );
		if ( $curl ) {
			add_action( 'http_api_curl', $hook, 10, 2 );
			$response = Sovgate_Client::request( 'POST', '/v1/chat/completions', $body, array( 'sovgate_chat_stream' => true ) );
			remove_action( 'http_api_curl', $hook, 10 );
		} else {
			$body['stream'] = false;
			$response       = Sovgate_Client::request( 'POST', '/v1/chat/completions', $body );
			$status         = is_wp_error( $response ) ? 0 : (int) wp_remote_retrieve_response_code( $response );
			$error          = is_wp_error( $response ) ? '' : (string) wp_remote_retrieve_body( $response );
		}
		if ( ! $curl && 200 === $status ) {
			$json   = json_decode( $error, true );
			$answer = $json['choices'][0]['message']['content'] ?? '';
			$event  = array(
				'choices' => array(
					array(
						'index' => 0,
						'delta' => array( 'content' => (string) $answer ),
					),
				),
			);
			echo 'data: ' . wp_json_encode( $event ) . "\n\ndata: [DONE]\n\n"; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- JSON in an event stream.
			return;
		}
		if ( is_wp_error( $response ) && ! $sent ) {
			Sovgate_Events::record( 'gateway_error', 'chat', Sovgate_Client::SOURCE, $response->get_error_message() );
			$message = __( 'The assistant is not available right now. Please try again later.', 'sovgate' );
		} elseif ( 200 !== $status ) {
			$json    = json_decode( $error, true );
			$message = self::gateway_refusal( $status, is_array( $json ) ? $json : array() )->get_error_message();
		} else {
			return;
		}
		echo 'data: ' . wp_json_encode( array( 'error' => array( 'message' => $message ) ) ) . "\n\n"; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- JSON in an event stream.
	}

	/**
	 * The chat markup.
	 *
	 * @param array|string $atts product (post id; default: the post shown), title.
	 * @return string
	 */
	public static function shortcode( $atts ) {
		$atts    = shortcode_atts(
			array(
				'product' => 0,
				'title'   => __( 'Questions about this product?', 'sovgate' ),
			),
			$atts,
			'sovgate_chat'
		);
		$product = absint( $atts['product'] );
		if ( ! $product && is_singular() ) {
			$product = (int) get_the_ID();
		}
		wp_enqueue_script( 'sovgate-chat' );
		wp_enqueue_style( 'sovgate-chat' );
		$id = wp_unique_id( 'sovgate-chat-' );
		return sprintf(
			'<div class="sovgate-chat" data-endpoint="%1$s" data-nonce="%2$s" data-rest-nonce="%3$s" data-product="%4$d">' .
				'<p class="sovgate-chat__title">%5$s</p>' .
				'<ol class="sovgate-chat__log" aria-live="polite"></ol>' .
				'<form class="sovgate-chat__form">' .
					'<label class="screen-reader-text" for="%6$s">%7$s</label>' .
					'<input type="text" id="%6$s" class="sovgate-chat__input" maxlength="%8$d" required placeholder="%7$s" />' .
					'<button type="submit" class="sovgate-chat__send">%9$s</button>' .
				'</form>' .
			'</div>',
			esc_url( rest_url( 'sovgate/v1/chat' ) ),
			esc_attr( wp_create_nonce( self::NONCE ) ),
			esc_attr( is_user_logged_in() ? wp_create_nonce( 'wp_rest' ) : '' ),
			$product,
			esc_html( $atts['title'] ),
			esc_attr( $id ),
			esc_attr__( 'Your question', 'sovgate' ),
			self::MAX_CHARS,
			esc_html__( 'Ask', 'sovgate' )
		);
	}

	/**
	 * The block's front end.
	 *
	 * @param array $attributes Block attributes.
	 * @return string
	 */
	public static function render_block( $attributes ) {
		$atts = array( 'product' => (int) ( $attributes['product'] ?? 0 ) );
		if ( ! empty( $attributes['title'] ) ) {
			$atts['title'] = (string) $attributes['title'];
		}
		return self::shortcode( $atts );
	}
}
