<?php
/**
 * Site Health: a test reporting the interception status, and a section of the debug
 * information.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Site Health integration.
 */
final class Sovgate_Site_Health {

	/**
	 * Adds the hooks.
	 */
	public static function register() {
		add_filter( 'site_status_tests', array( __CLASS__, 'tests' ) );
		add_filter( 'debug_information', array( __CLASS__, 'debug_information' ) );
	}

	/**
	 * Registers the test.
	 *
	 * @param array $tests Tests.
	 * @return array
	 */
	public static function tests( $tests ) {
		$tests['direct']['sovgate_interception'] = array(
			'label' => __( 'Sovgate AI gateway', 'sovgate' ),
			'test'  => array( __CLASS__, 'test' ),
		);
		return $tests;
	}

	/**
	 * The test: good when every AI call through WordPress goes to a reachable gateway and
	 * Sovgate loads before other plugins; recommended when something weakens that or is
	 * not as set (a mode that is no mode, which means enforce; a host list from code over
	 * the limits); critical when AI calls are not protected or cannot be answered.
	 *
	 * @return array A Site Health result.
	 */
	public static function test() {
		$status   = Sovgate_Client::status();
		$problems = array();
		$level    = 'good';
		if ( ! $status['configured'] ) {
			$level      = 'critical';
			$problems[] = 'enforce' === $status['mode']
				? __( 'No gateway is configured, so AI calls of plugins and themes are blocked.', 'sovgate' )
				: __( 'No gateway is configured and the mode is monitor: AI calls go to the providers.', 'sovgate' );
		} else {
			$health = Sovgate_Client::request( 'GET', '/healthz', null, array( 'timeout' => 3 ), false );
			if ( is_wp_error( $health ) || 200 !== wp_remote_retrieve_response_code( $health ) ) {
				$level      = 'critical';
				$problems[] = sprintf(
					/* translators: 1: gateway URL, 2: error. */
					__( 'The gateway at %1$s does not answer (%2$s): AI calls fail until it is back.', 'sovgate' ),
					$status['gateway'],
					is_wp_error( $health ) ? $health->get_error_message() : Sovgate_Client::error_of( $health )
				);
			}
			if ( 'monitor' === $status['mode'] ) {
				$level      = 'critical' === $level ? $level : 'recommended';
				$problems[] = __( 'Monitor mode: AI calls that cannot be rerouted go to the providers. Switch to enforce once everything works.', 'sovgate' );
			}
		}
		if ( '' !== $status['mode_problem'] ) {
			$level      = 'critical' === $level ? $level : 'recommended';
			$problems[] = $status['mode_problem'];
		}
		if ( '' !== $status['hosts_problem'] ) {
			$level      = 'critical' === $level ? $level : 'recommended';
			$problems[] = $status['hosts_problem'];
		}
		if ( ! $status['loaded_early'] ) {
			$level      = 'critical' === $level ? $level : 'recommended';
			$problems[] = __( 'The must-use loader is not installed: plugins loaded before Sovgate could make AI calls before it is in place.', 'sovgate' );
		}
		$description = '<p>' . esc_html__( 'Sovgate sends the AI calls that plugins and themes make through WordPress\'s HTTP API to the shop\'s own gateway, which removes personal data before anything reaches a model.', 'sovgate' ) . '</p>';
		if ( $problems ) {
			$description .= '<ul>';
			foreach ( $problems as $problem ) {
				$description .= '<li>' . esc_html( $problem ) . '</li>';
			}
			$description .= '</ul>';
		}
		$description .= '<p>' . esc_html__( 'Not covered by hooks: plugins that bundle their own HTTP client (such as Guzzle) and AI calls made by visitors\' browsers. Give the provider host names the gateway\'s address on the network (with a CA the servers trust) or use an HTTPS proxy for those.', 'sovgate' ) . '</p>';
		$labels = array(
			'good'        => __( 'AI calls go through the Sovgate gateway', 'sovgate' ),
			'recommended' => __( 'Sovgate protects AI calls, with a weakness', 'sovgate' ),
			'critical'    => __( 'AI calls are not protected by Sovgate, or fail', 'sovgate' ),
		);
		return array(
			'label'       => $labels[ $level ],
			'status'      => $level,
			'badge'       => array(
				'label' => __( 'Privacy', 'sovgate' ),
				'color' => 'good' === $level ? 'blue' : 'red',
			),
			'description' => $description,
			'actions'     => sprintf(
				'<p><a href="%1$s">%2$s</a></p>',
				esc_url( admin_url( 'options-general.php?page=' . Sovgate_Admin::PAGE ) ),
				esc_html__( 'Sovgate settings', 'sovgate' )
			),
			'test'        => 'sovgate_interception',
		);
	}

	/**
	 * The Sovgate section of Site Health → Info (no key, only whether one is set).
	 *
	 * @param array $info Sections.
	 * @return array
	 */
	public static function debug_information( $info ) {
		$s               = Sovgate_Client::status();
		$info['sovgate'] = array(
			'label'  => __( 'Sovgate', 'sovgate' ),
			'fields' => array(
				'version' => array(
					'label' => __( 'Version', 'sovgate' ),
					'value' => $s['version'],
				),
				'gateway' => array(
					'label' => __( 'Gateway', 'sovgate' ),
					'value' => '' === $s['gateway'] ? __( 'not set', 'sovgate' ) : $s['gateway'],
				),
				'key'     => array(
					'label'   => __( 'Site key', 'sovgate' ),
					'value'   => $s['key'] ? __( 'set', 'sovgate' ) : __( 'not set', 'sovgate' ),
					'private' => true,
				),
				'mode'    => array(
					'label' => __( 'Mode', 'sovgate' ),
					'value' => '' === $s['mode_problem'] ? $s['mode'] : $s['mode'] . ' (' . $s['mode_problem'] . ')',
				),
				'hosts'   => array(
					'label' => __( 'AI hosts', 'sovgate' ),
					'value' => implode( ', ', $s['hosts'] ),
				),
				'added'   => array(
					'label' => __( 'AI hosts added by an update since the list was saved', 'sovgate' ),
					'value' => $s['hosts_added'] ? implode( ', ', $s['hosts_added'] ) : __( 'none', 'sovgate' ),
				),
				'problem' => array(
					'label' => __( 'AI host list problem', 'sovgate' ),
					'value' => '' === $s['hosts_problem'] ? __( 'none', 'sovgate' ) : $s['hosts_problem'],
				),
				'loader'  => array(
					'label' => __( 'Must-use loader', 'sovgate' ),
					'value' => $s['loaded_early'] ? __( 'active', 'sovgate' ) : __( 'not installed', 'sovgate' ),
				),
				'curl'    => array(
					'label' => __( 'cURL transport', 'sovgate' ),
					'value' => $s['curl'] ? __( 'yes', 'sovgate' ) : __( 'no (fallback)', 'sovgate' ),
				),
			),
		);
		return $info;
	}
}
