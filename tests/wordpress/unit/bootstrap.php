<?php
/**
 * Loads the plugin's pure classes for PHPUnit, then wordpress.php: a little of WordPress
 * (its hook API and Requests library, stubs for the rest) and the classes that use it.
 *
 * @package Sovgate_Tests
 */

error_reporting( E_ALL );
define( 'ABSPATH', '/srv/wordpress/' );
$sovgate_dir = dirname( __DIR__, 3 ) . '/wordpress/sovgate/';
define( 'SOVGATE_DIR', $sovgate_dir );
require_once $sovgate_dir . 'includes/class-sovgate-hosts.php';
require_once $sovgate_dir . 'includes/class-sovgate-mapper.php';
require_once $sovgate_dir . 'includes/class-sovgate-source.php';
require_once $sovgate_dir . 'includes/class-sovgate-fields.php';
require_once __DIR__ . '/wordpress.php';
