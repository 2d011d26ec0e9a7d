/**
 * braid's Netty native epoll backend ({@code braid.backend=epoll}), Linux on x86-64 and AArch64. Exports
 * nothing: braid finds it through {@link dev.braid.spi.Backend}.
 *
 * <p>Netty's JNI libraries live in modules of their own that nothing else requires; they are required here so
 * that they are resolved from the module path without {@code --add-modules}. Netty loads the one that matches
 * the CPU; where neither loads, the backend reports itself unavailable and {@code auto} picks another.
 */
module dev.braid.epoll {
    requires dev.braid;
    requires io.netty.buffer;
    requires io.netty.common;
    requires io.netty.transport;
    requires io.netty.transport.unix.common;
    requires io.netty.transport.classes.epoll;
    requires io.netty.transport.epoll.linux.x86_64;
    requires io.netty.transport.epoll.linux.aarch_64;

    provides dev.braid.spi.Backend with dev.braid.epoll.EpollBackend;
}
