/**
 * Sovgate product chat: asks the site's /wp-json/sovgate/v1/chat route (never a provider,
 * never with a key) and shows the answer as it streams in.
 */
( function () {
	'use strict';

	var strings = window.sovgateChat || { error: 'The assistant is not available right now.', thinking: '…' };

	function addMessage( log, role, text ) {
		var item = document.createElement( 'li' );
		item.className = 'sovgate-chat__message sovgate-chat__message--' + role;
		item.textContent = text;
		log.appendChild( item );
		return item;
	}

	// Reads server-sent events and calls onData with each data payload.
	function readEvents( body, onData ) {
		var reader = body.getReader();
		var decoder = new TextDecoder();
		var buffer = '';
		function pump() {
			return reader.read().then( function ( chunk ) {
				if ( chunk.done ) {
					return;
				}
				buffer += decoder.decode( chunk.value, { stream: true } ).replace( /\r\n/g, '\n' );
				var end;
				while ( ( end = buffer.indexOf( '\n\n' ) ) >= 0 ) {
					var block = buffer.slice( 0, end );
					buffer = buffer.slice( end + 2 );
					var data = block.split( '\n' ).filter( function ( line ) {
						return line.indexOf( 'data:' ) === 0;
					} ).map( function ( line ) {
						return line.slice( 5 ).replace( /^ /, '' );
					} ).join( '\n' );
					if ( data ) {
						onData( data );
					}
				}
				return pump();
			} );
		}
		return pump();
	}

	function init( root ) {
		var form = root.querySelector( '.sovgate-chat__form' );
		var input = root.querySelector( '.sovgate-chat__input' );
		var log = root.querySelector( '.sovgate-chat__log' );
		var button = root.querySelector( '.sovgate-chat__send' );
		var history = [];

		form.addEventListener( 'submit', function ( event ) {
			event.preventDefault();
			var question = input.value.trim();
			if ( ! question ) {
				return;
			}
			input.value = '';
			button.disabled = true;
			addMessage( log, 'user', question );
			history.push( { role: 'user', content: question } );
			var answer = addMessage( log, 'assistant', strings.thinking );
			var text = '';
			var headers = { 'Content-Type': 'application/json', 'X-Sovgate-Nonce': root.dataset.nonce };
			if ( root.dataset.restNonce ) {
				headers[ 'X-WP-Nonce' ] = root.dataset.restNonce;
			}
			fetch( root.dataset.endpoint, {
				method: 'POST',
				credentials: 'same-origin',
				headers: headers,
				body: JSON.stringify( {
					messages: history.slice( -10 ),
					product: parseInt( root.dataset.product, 10 ) || 0,
					stream: true
				} )
			} ).then( function ( response ) {
				if ( ! response.ok || ! response.body ) {
					return response.json().catch( function () {
						return {};
					} ).then( function ( json ) {
						throw new Error( ( json && json.message ) || strings.error );
					} );
				}
				return readEvents( response.body, function ( data ) {
					if ( data === '[DONE]' ) {
						return;
					}
					var json;
					try {
						json = JSON.parse( data );
					} catch ( e ) {
						return;
					}
					if ( json.error ) {
						throw new Error( json.error.message || strings.error );
					}
					var delta = json.choices && json.choices[ 0 ] && json.choices[ 0 ].delta;
					if ( delta && typeof delta.content === 'string' ) {
						text += delta.content;
						answer.textContent = text;
					}
				} );
			} ).then( function () {
				history.push( { role: 'assistant', content: text } );
			} ).catch( function ( error ) {
				answer.textContent = error.message || strings.error;
				answer.classList.add( 'is-error' );
				history.pop();
			} ).then( function () {
				button.disabled = false;
			} );
		} );
	}

	document.querySelectorAll( '.sovgate-chat' ).forEach( init );
}() );
