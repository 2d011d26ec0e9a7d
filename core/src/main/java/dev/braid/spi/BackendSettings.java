package dev.braid.spi;

/**
 * What a backend needs from braid's configuration.
 *
 * @param ioThreads          event-loop threads (backends without loops may ignore it)
 * @param threadNamePrefix   prefix for the names of the threads the backend starts
 * @param sendBufferSize     SO_SNDBUF in bytes, 0 for the operating system's default
 * @param receiveBufferSize  SO_RCVBUF in bytes, 0 for the operating system's default
 * @param connectTimeoutMillis how long a connect may take
 */
public record BackendSettings(int ioThreads, String threadNamePrefix, int sendBufferSize, int receiveBufferSize,
                              long connectTimeoutMillis) {
}
