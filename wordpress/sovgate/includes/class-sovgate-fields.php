<?php
/**
 * The X-Sovgate-Fields header: field names whose values are personal or confidential,
 * with their entity types, so that the gateway's field classifier knows the shop's
 * fields (WooCommerce order and customer fields, cost-of-goods meta, the site's own).
 *
 * Pure logic (no WordPress calls in the builders), unit tested in tests/wordpress/unit.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Field names and types.
 */
final class Sovgate_Fields {

	/**
	 * Longest header value sent (entries past it are left out).
	 */
	const MAX_HEADER = 4096;

	/**
	 * WooCommerce's order and customer fields and the Cost of Goods meta, by entity type
	 * (the gateway's types, see docs/redaction.md).
	 *
	 * @var array<string, string>
	 */
	const WOOCOMMERCE = array(
		'billing_first_name'       => 'PERSON',
		'billing_last_name'        => 'PERSON',
		'billing_company'          => 'FIELD',
		'billing_address_1'        => 'ADDRESS',
		'billing_address_2'        => 'ADDRESS',
		'billing_city'             => 'ADDRESS',
		'billing_postcode'         => 'ADDRESS',
		'billing_email'            => 'EMAIL',
		'billing_phone'            => 'PHONE',
		'shipping_first_name'      => 'PERSON',
		'shipping_last_name'       => 'PERSON',
		'shipping_company'         => 'FIELD',
		'shipping_address_1'       => 'ADDRESS',
		'shipping_address_2'       => 'ADDRESS',
		'shipping_city'            => 'ADDRESS',
		'shipping_postcode'        => 'ADDRESS',
		'shipping_phone'           => 'PHONE',
		'customer_note'            => 'FIELD',
		'_customer_ip_address'     => 'IP',
		'_customer_user_agent'     => 'FIELD',
		'_billing_address_index'   => 'ADDRESS',
		'_shipping_address_index'  => 'ADDRESS',
		'_wc_cog_cost'             => 'FIELD',
		'_wc_cog_item_cost'        => 'FIELD',
		'_wc_cog_item_total_cost'  => 'FIELD',
		'_wc_cog_order_total_cost' => 'FIELD',
	);

	/**
	 * Whether a field name is sent (letters, digits, `_` and `-`, 1–64 of them).
	 *
	 * @param string $name Field name.
	 * @return bool
	 */
	public static function is_valid_name( $name ) {
		return is_string( $name ) && (bool) preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $name );
	}

	/**
	 * Whether a type is sent: an upper-case type name (built-in or a custom detector's,
	 * 1–24 of A-Z, 0-9, _) or `none` (the field is not personal).
	 *
	 * @param string $type Type.
	 * @return bool
	 */
	public static function is_valid_type( $type ) {
		return is_string( $type ) && ( 'none' === $type || (bool) preg_match( '/^[A-Z][A-Z0-9_]{0,23}$/', $type ) );
	}

	/**
	 * The header value: `name=TYPE` pairs joined by commas, in the map's order. Invalid
	 * entries are left out, and so is whatever would make it longer than MAX_HEADER.
	 *
	 * @param array $fields Field name => type.
	 * @return string '' when nothing is left.
	 */
	public static function header_value( array $fields ) {
		$out = '';
		foreach ( $fields as $name => $type ) {
			if ( ! self::is_valid_name( $name ) || ! self::is_valid_type( $type ) ) {
				continue;
			}
			$pair = $name . '=' . $type;
			if ( strlen( $out ) + strlen( $pair ) + 1 > self::MAX_HEADER ) {
				break;
			}
			$out .= ( '' === $out ? '' : ',' ) . $pair;
		}
		return $out;
	}

	/**
	 * The site's fields: WooCommerce's when it is active, then what the
	 * `sovgate_fields` filter adds or changes.
	 *
	 * @return string The header value ('' when there is nothing to send).
	 */
	public static function site_header() {
		$fields = class_exists( 'WooCommerce' ) ? self::WOOCOMMERCE : array();
		/**
		 * Filters the field names (and their entity types) named to the gateway in the
		 * X-Sovgate-Fields header.
		 *
		 * @param array<string,string> $fields      Field name => type (`PERSON`, `EMAIL`,
		 *                                          `PHONE`, `ADDRESS`, `IP`, `FIELD`, a
		 *                                          custom detector's name, or `none`).
		 * @param bool                 $woocommerce Whether WooCommerce is active.
		 */
		$fields = apply_filters( 'sovgate_fields', $fields, class_exists( 'WooCommerce' ) );
		return self::header_value( is_array( $fields ) ? $fields : array() );
	}
}
