/**
 * braid's virtual-thread backend ({@code braid.backend=loom}): blocking sockets, a reader and a writer virtual
 * thread per connection. Needs the JDK only. Exports nothing: braid finds it through
 * {@link dev.braid.spi.Backend}.
 */
module dev.braid.loom {
    requires dev.braid;

    provides dev.braid.spi.Backend with dev.braid.loom.LoomBackend;
}
