package dev.braid.testsuite;

import dev.braid.internal.engine.BackendSelector;
import dev.braid.spi.Backend;

import java.util.ArrayList;
import java.util.List;

/**
 * A client backend and a server backend. The suite runs every transport test over every pairing of the
 * installed backends (Netty's testsuite does the same with its socket tests). A pairing whose backend
 * cannot run here is still listed, and its tests are reported as skipped with the cause.
 */
public record Pairing(String client, String server) {

    /** Every (client, server) combination of installed backends; {@code -Dbraid.test.backends=nio,epoll} narrows it. */
    public static List<Pairing> all() {
        final String only = System.getProperty("braid.test.backends", "");
        final List<String> names = new ArrayList<>();
        for (Backend b : BackendSelector.installed()) {
            if (isSelectionTestFake(b)) {
                continue;
            }
            if (only.isBlank() || List.of(only.split(",")).contains(b.name())) {
                names.add(b.name());
            }
        }
        final List<Pairing> pairs = new ArrayList<>();
        for (String c : names) {
            for (String s : names) {
                pairs.add(new Pairing(c, s));
            }
        }
        return pairs;
    }

    /**
     * core's selection tests register fake backends in core's test classes (their service file is left out of
     * the packaged test jar, but a reactor build's {@code -am ... test} puts the test-classes directory, and so
     * that file, on this class path): they cannot carry a connection, so they are never paired.
     */
    private static boolean isSelectionTestFake(final Backend b) {
        return b.getClass().getName().startsWith("dev.braid.internal.engine.BackendSelectorTest$");
    }

    /** Why this pairing cannot run here, or null. */
    public String unavailability() {
        for (Backend b : BackendSelector.installed()) {
            if ((b.name().equals(client) || b.name().equals(server)) && !b.isAvailable()) {
                return "backend " + b.name() + " unavailable: " + b.unavailabilityCause();
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return client + "->" + server;
    }
}
