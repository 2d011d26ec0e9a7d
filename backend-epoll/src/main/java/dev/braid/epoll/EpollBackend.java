package dev.braid.epoll;

import dev.braid.BraidException;
import dev.braid.spi.Backend;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The Netty native epoll backend (Linux x86-64). Preferred by {@code auto} (priority 20, above nio's 10)
 * because it can bound the bytes waiting unsent in the kernel with {@code TCP_NOTSENT_LOWAT}, which java.nio
 * cannot set; see {@link EpollConnection}.
 *
 * <p>Whether it can run is Netty's answer, computed once by {@code io.netty.channel.epoll.Epoll} when the
 * class is first used: the JNI library must load (Linux, a matching CPU, the {@code linux-x86_64} artifact on
 * the class path). If Netty's classes themselves are missing, this class still loads and reports that as the
 * cause, so one incomplete backend never breaks {@link java.util.ServiceLoader} for the others.
 *
 * <p>Thread-safe; holds no state of its own.
 */
public final class EpollBackend implements Backend {
    /** Called by {@link java.util.ServiceLoader}; braid chooses a backend by name (see {@link Backend}). */
    public EpollBackend() {
    }

    @Override
    public String name() {
        return "epoll";
    }

    @Override
    public int autoPriority() {
        return 20;
    }

    @Override
    public boolean isAvailable() {
        return Availability.CAUSE == null;
    }

    @Override
    public Throwable unavailabilityCause() {
        return Availability.CAUSE;
    }

    @Override
    public BackendInstance start(final BackendSettings settings) {
        if (Availability.CAUSE != null) {
            throw new BraidException(BraidException.Category.BACKEND_UNAVAILABLE,
                    "braid.backend 'epoll' cannot run here: " + Availability.CAUSE, Availability.CAUSE);
        }
        return new EpollBackendInstance(settings);
    }

    /** Asks Netty once, at first use (a holder class, so merely listing backends loads nothing native). */
    private static final class Availability {
        static final Throwable CAUSE = cause();

        private static Throwable cause() {
            try {
                final Throwable wrongLine = nettyLine();
                if (wrongLine != null) {
                    return wrongLine;
                }
                return io.netty.channel.epoll.Epoll.isAvailable() ? null
                        : io.netty.channel.epoll.Epoll.unavailabilityCause();
            } catch (LinkageError e) {
                return e; // Netty's classes are not on the class path
            }
        }

        /**
         * This backend is built on Netty 4.2's {@code IoHandler} event loops. A build that resolves Netty 4.1
         * instead (a BOM that pins it, as Spring Boot 3's does) would fail later with a bare
         * {@code NoClassDefFoundError}; say so here, with the way out (docs/dependency.md).
         */
        private static Throwable nettyLine() {
            final List<String> old = new ArrayList<>();
            final ClassLoader loader = EpollBackend.class.getClassLoader();
            for (io.netty.util.Version v : io.netty.util.Version.identify(loader).values()) {
                if (v.artifactVersion().startsWith("4.1.") || v.artifactVersion().startsWith("4.0.")) {
                    old.add(v.artifactId() + " " + v.artifactVersion());
                }
            }
            if (old.isEmpty()) {
                return null;
            }
            Collections.sort(old);
            return new BraidException(BraidException.Category.BACKEND_UNAVAILABLE, "braid's epoll backend needs "
                    + "Netty 4.2, and this class path has " + String.join(", ", old) + ": import dev.braid:braid-bom "
                    + "(or io.netty:netty-bom 4.2) before any BOM that pins Netty 4.1, such as Spring Boot 3's "
                    + "(docs/dependency.md)");
        }
    }
}
