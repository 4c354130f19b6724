<?php
/**
 * Plugin Name:       Sovgate
 * Plugin URI:        https://github.com/sovgate/sovgate
 * Description:       Sends the AI calls of every plugin and theme to the shop's own Sovgate gateway, which removes personal data before anything reaches a model. Calls that cannot go through it are blocked.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            Sovgate
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       sovgate
 * Domain Path:       /languages
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

// Loaded once, whether by the must-use loader (early) or as a normal plugin.
if ( defined( 'SOVGATE_VERSION' ) ) {
	return;
}

define( 'SOVGATE_VERSION', '0.1.0' );
define( 'SOVGATE_FILE', __FILE__ );
define( 'SOVGATE_DIR', __DIR__ . '/' );

require_once SOVGATE_DIR . 'includes/class-sovgate-hosts.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-mapper.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-source.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-fields.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-settings.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-events.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-interceptor.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-client.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-admin.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-site-health.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-chat.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-providers.php';
require_once SOVGATE_DIR . 'includes/class-sovgate-plugin.php';

Sovgate_Plugin::boot();

register_activation_hook( __FILE__, array( 'Sovgate_Plugin', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Sovgate_Plugin', 'deactivate' ) );
