package dev.braid.spi;

/**
 * An I/O backend: moves bytes between sockets and braid's connection engine. Backends are found with
 * {@link java.util.ServiceLoader} and chosen by the {@code braid.backend} property (or
 * {@link dev.braid.BraidConfig#backend(String)}).
 *
 * <p>A backend reports once whether it can run here and, if not, why ({@link #isAvailable()},
 * {@link #unavailabilityCause()}), the way Netty's {@code Epoll} does. The engine in core never knows which
 * backend runs it.
 */
public interface Backend {
    /**
     * Short alias used in configuration, for example {@code nio}.
     *
     * @return the alias
     */
    String name();

    /**
     * Preference when {@code auto} chooses: higher wins among available backends.
     *
     * @return the priority
     */
    int autoPriority();

    /** {@return whether the backend can run here (asked once, then the same answer)} */
    boolean isAvailable();

    /**
     * Why the backend cannot run here, or null if it can.
     *
     * @return the cause, or null
     */
    Throwable unavailabilityCause();

    /**
     * Starts the backend's threads. The returned instance owns them until {@link BackendInstance#close()}.
     *
     * @param settings thread names, I/O threads, socket options
     * @return the running backend
     */
    BackendInstance start(BackendSettings settings);
}
