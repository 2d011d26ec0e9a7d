/**
 * braid's virtual-thread backend: blocking sockets, a reader and a writer virtual thread per connection.
 * The module exists so that the build's layout is final; the backend itself arrives with the backends
 * issue and registers through {@code dev.braid.spi.Backend}.
 */
package dev.braid.loom;
