/**
 * braid's virtual-thread backend ({@code braid.backend=loom}): blocking {@code SocketChannel}s without a
 * selector, one reader and one writer virtual thread per connection ({@link dev.braid.loom.LoomConnection}
 * states the hand-offs between them), one accept virtual thread per listener. Registered through
 * {@code dev.braid.spi.Backend}; {@code auto} prefers nio.
 */
package dev.braid.loom;
