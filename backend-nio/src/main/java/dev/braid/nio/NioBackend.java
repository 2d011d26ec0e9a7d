package dev.braid.nio;

import dev.braid.spi.Backend;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;

/**
 * The java.nio backend: selector event loops over non-blocking {@code SocketChannel}s. Runs wherever the
 * JDK does, so it is always available.
 */
public final class NioBackend implements Backend {
    /** Called by {@link java.util.ServiceLoader}; braid chooses a backend by name (see {@link Backend}). */
    public NioBackend() {
    }

    @Override
    public String name() {
        return "nio";
    }

    @Override
    public int autoPriority() {
        return 10;
    }

    @Override
    public boolean isAvailable() {
        return true;
    }

    @Override
    public Throwable unavailabilityCause() {
        return null;
    }

    @Override
    public BackendInstance start(final BackendSettings settings) {
        return new NioBackendInstance(settings);
    }
}
