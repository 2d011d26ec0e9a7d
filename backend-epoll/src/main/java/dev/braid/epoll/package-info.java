/**
 * braid's Netty native epoll backend (Linux). The module exists so that the build's layout is final; the
 * backend itself arrives with the backends issue and registers through {@code dev.braid.spi.Backend}.
 */
package dev.braid.epoll;
