<?php
/**
 * The X-Sovgate-Fields header value.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class FieldsTest extends TestCase {

	public function test_woocommerce_fields() {
		$v = Sovgate_Fields::header_value( Sovgate_Fields::WOOCOMMERCE );
		$this->assertStringStartsWith( 'billing_first_name=PERSON,billing_last_name=PERSON,', $v );
		foreach ( array( 'billing_email=EMAIL', 'billing_phone=PHONE', 'shipping_phone=PHONE', '_wc_cog_cost=FIELD', '_customer_ip_address=IP', 'billing_address_1=ADDRESS' ) as $pair ) {
			$this->assertContains( $pair, explode( ',', $v ) );
		}
	}

	public function test_invalid_entries_are_left_out() {
		$v = Sovgate_Fields::header_value(
			array(
				'vip_level'  => 'FIELD',
				'bad name'   => 'FIELD',
				'note'       => 'lowercase',
				'x=y'        => 'EMAIL',
				'loyalty-id' => 'SUPPLIER_CODE',
				'notes'      => 'none',
				7            => 'PERSON',
			)
		);
		$this->assertSame( 'vip_level=FIELD,loyalty-id=SUPPLIER_CODE,notes=none', $v );
		$this->assertSame( '', Sovgate_Fields::header_value( array() ) );
	}

	public function test_length_is_bounded() {
		$fields = array();
		for ( $i = 0; $i < 1000; $i++ ) {
			$fields[ 'field_' . $i ] = 'FIELD';
		}
		$v = Sovgate_Fields::header_value( $fields );
		$this->assertLessThanOrEqual( Sovgate_Fields::MAX_HEADER, strlen( $v ) );
		$this->assertStringStartsWith( 'field_0=FIELD,field_1=FIELD', $v );
		$this->assertStringEndsWith( '=FIELD', $v );
	}
}
