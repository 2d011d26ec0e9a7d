/**
 * braid's Netty native epoll backend (Linux x86-64), registered as {@code epoll} through
 * {@code dev.braid.spi.Backend} and preferred by {@code auto} where Netty's JNI library loads. The classes
 * here are internal: use them through {@code braid.backend=epoll}.
 *
 * <p>What it adds over nio: {@code TCP_NOTSENT_LOWAT} bounds the bytes waiting unsent in the kernel
 * ({@code -Dbraid.epoll.notSentLowat}, default 128 KiB) even when {@code SO_SNDBUF} is raised or left to
 * the kernel (see {@link dev.braid.epoll.EpollBackendInstance} for why braid's 256 KiB default stays). Reads
 * go straight into the engine's buffers and writes are {@code writev} calls straight from them (see
 * {@link dev.braid.epoll.EpollConnection}).
 */
package dev.braid.epoll;
