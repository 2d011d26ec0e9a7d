package dev.braid.loom;

import dev.braid.spi.Backend;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;

/**
 * The virtual-thread backend: blocking {@code SocketChannel}s, a reader and a writer virtual thread per
 * connection, an accept virtual thread per listener. Needs virtual threads (JDK 21), so it runs wherever
 * braid does; {@code auto} still prefers nio (priority 10 against 5): loom is chosen by name.
 */
public final class LoomBackend implements Backend {
    /** Called by {@link java.util.ServiceLoader}; braid chooses a backend by name (see {@link Backend}). */
    public LoomBackend() {
    }

    private static final Throwable UNAVAILABILITY = Runtime.version().feature() >= 21 ? null
            : new UnsupportedOperationException("the loom backend needs virtual threads (JDK 21 or newer); this JVM is "
            + Runtime.version());

    @Override
    public String name() {
        return "loom";
    }

    @Override
    public int autoPriority() {
        return 5;
    }

    @Override
    public boolean isAvailable() {
        return UNAVAILABILITY == null;
    }

    @Override
    public Throwable unavailabilityCause() {
        return UNAVAILABILITY;
    }

    @Override
    public BackendInstance start(final BackendSettings settings) {
        return new LoomBackendInstance(settings);
    }
}
