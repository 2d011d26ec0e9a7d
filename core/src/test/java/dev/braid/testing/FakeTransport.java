package dev.braid.testing;

import dev.braid.spi.Transport;

import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * A transport for engine tests that drive the engine's parts by hand: it records what the engine asks
 * (flushes, reading on/off, tasks, closes) and does nothing else. Single-threaded, like those tests.
 */
public final class FakeTransport implements Transport {
    /** Flush requests, urgent ones included. */
    public int flushes;
    /** Every reading on/off call, in order ({@code true}: off). */
    public final List<Boolean> readSuspensions = new ArrayList<>();
    /** Tasks handed to {@link #execute}, not run. */
    public final List<Runnable> tasks = new ArrayList<>();
    /** The first close reason, or null. */
    public Throwable closedWith;

    @Override
    public void requestFlush() {
        flushes++;
    }

    @Override
    public void setReadSuspended(final boolean suspended) {
        readSuspensions.add(suspended);
    }

    @Override
    public void execute(final Runnable task) {
        tasks.add(task);
    }

    @Override
    public void close(final Throwable reason) {
        if (closedWith == null) {
            closedWith = reason;
        }
    }

    @Override
    public SocketAddress localAddress() {
        return null;
    }

    @Override
    public SocketAddress remoteAddress() {
        return null;
    }

    @Override
    public String backendName() {
        return "fake";
    }
}
