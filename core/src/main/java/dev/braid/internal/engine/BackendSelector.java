package dev.braid.internal.engine;

import dev.braid.BraidException;
import dev.braid.spi.Backend;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * Chooses the I/O backend: {@code auto}, a short name found through {@link ServiceLoader}, or a fully
 * qualified class name. Only {@code auto} falls back; it logs one line saying what it chose and why.
 */
public final class BackendSelector {
    private BackendSelector() {
    }

    public static List<Backend> installed() {
        final List<Backend> all = new ArrayList<>();
        ServiceLoader.load(Backend.class, BackendSelector.class.getClassLoader()).forEach(all::add);
        all.sort(Comparator.comparingInt(Backend::autoPriority).reversed());
        return all;
    }

    public static Backend select(final String requested) {
        final List<Backend> all = installed();
        final String value = requested.trim();
        if (value.equalsIgnoreCase("auto")) {
            for (Backend b : all) {
                if (b.isAvailable()) {
                    System.getLogger("dev.braid.backend").log(Level.DEBUG, "braid.backend=auto chose " + b.name() + " (" + reasonFor(b, all) + ")");
                    return b;
                }
            }
            throw new BraidException(BraidException.Category.BACKEND_UNAVAILABLE,
                    "braid.backend=auto found no backend that can run here; installed: " + describe(all));
        }
        Backend chosen = null;
        for (Backend b : all) {
            if (b.name().equalsIgnoreCase(value) || b.getClass().getName().equals(value)) {
                chosen = b;
            }
        }
        if (chosen == null && value.contains(".")) {
            chosen = instantiate(value, all);
        }
        if (chosen == null) {
            throw new BraidException(BraidException.Category.CONFIG, "unknown braid.backend '" + value
                    + "'; valid values: auto, " + all.stream().map(Backend::name).collect(Collectors.joining(", "))
                    + ", or the class name of a dev.braid.spi.Backend");
        }
        if (!chosen.isAvailable()) {
            throw new BraidException(BraidException.Category.BACKEND_UNAVAILABLE, "braid.backend '" + chosen.name()
                    + "' cannot run here: " + chosen.unavailabilityCause() + "; backends that can run: "
                    + all.stream().filter(Backend::isAvailable).map(Backend::name).collect(Collectors.joining(", ")),
                    chosen.unavailabilityCause());
        }
        return chosen;
    }

    private static Backend instantiate(final String className, final List<Backend> all) {
        try {
            final Class<?> c = Class.forName(className, true, BackendSelector.class.getClassLoader());
            return (Backend) c.getConstructor().newInstance();
        } catch (ReflectiveOperationException | ClassCastException | LinkageError e) {
            throw new BraidException(BraidException.Category.CONFIG, "braid.backend '" + className
                    + "' is not a loadable dev.braid.spi.Backend (" + e + "); valid values: auto, "
                    + all.stream().map(Backend::name).collect(Collectors.joining(", ")), e);
        }
    }

    private static String reasonFor(final Backend chosen, final List<Backend> all) {
        final List<String> skipped = new ArrayList<>();
        for (Backend b : all) {
            if (b == chosen) {
                break;
            }
            skipped.add(b.name() + " unavailable: " + b.unavailabilityCause());
        }
        return skipped.isEmpty() ? "preferred available backend" : String.join("; ", skipped);
    }

    private static String describe(final List<Backend> all) {
        if (all.isEmpty()) {
            return "none (add braid-backend-nio to the class path)";
        }
        return all.stream().map(b -> b.name() + (b.isAvailable() ? "" : " (" + b.unavailabilityCause() + ")"))
                .collect(Collectors.joining(", "));
    }
}
