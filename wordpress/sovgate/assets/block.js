/**
 * The "Sovgate product chat" block in the editor; the front end is rendered by PHP
 * (the [sovgate_chat] shortcode).
 */
( function ( wp ) {
	'use strict';

	var el = wp.element.createElement;
	var __ = wp.i18n.__;
	var InspectorControls = wp.blockEditor.InspectorControls;
	var useBlockProps = wp.blockEditor.useBlockProps;
	var PanelBody = wp.components.PanelBody;
	var TextControl = wp.components.TextControl;
	var Placeholder = wp.components.Placeholder;

	wp.blocks.registerBlockType( 'sovgate/chat', {
		apiVersion: 2,
		title: __( 'Sovgate product chat', 'sovgate' ),
		description: __( 'Lets visitors ask about a product; answered by the shop\'s own AI gateway.', 'sovgate' ),
		category: 'widgets',
		icon: 'format-chat',
		attributes: {
			product: { type: 'number', default: 0 },
			title: { type: 'string', default: '' }
		},
		edit: function ( props ) {
			var attributes = props.attributes;
			return el(
				'div',
				useBlockProps(),
				el(
					InspectorControls,
					null,
					el(
						PanelBody,
						{ title: __( 'Chat', 'sovgate' ) },
						el( TextControl, {
							label: __( 'Product ID (0: the product shown)', 'sovgate' ),
							type: 'number',
							value: attributes.product,
							onChange: function ( value ) {
								props.setAttributes( { product: parseInt( value, 10 ) || 0 } );
							}
						} ),
						el( TextControl, {
							label: __( 'Title', 'sovgate' ),
							value: attributes.title,
							onChange: function ( value ) {
								props.setAttributes( { title: value } );
							}
						} )
					)
				),
				el( Placeholder, {
					icon: 'format-chat',
					label: attributes.title || __( 'Questions about this product?', 'sovgate' ),
					instructions: __( 'Visitors ask here; the shop\'s Sovgate gateway answers.', 'sovgate' )
				} )
			);
		},
		save: function () {
			return null;
		}
	} );
}( window.wp ) );
