package dev.braid.internal.engine;

import dev.braid.BraidException;
import dev.braid.spi.Backend;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import org.junit.jupiter.api.Test;

import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Backend selection by name, class name and {@code auto}, with two test backends found by ServiceLoader. */
class BackendSelectorTest {

    /** Always available, low priority. */
    public static final class Available implements Backend {
        @Override
        public String name() {
            return "fake-ok";
        }

        @Override
        public int autoPriority() {
            return 1;
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
            throw new UnsupportedOperationException("selection test only");
        }
    }

    /** Preferred by priority but cannot run. */
    public static final class Unavailable implements Backend {
        static final Throwable CAUSE = new UnsatisfiedLinkError("libfake.so: cannot open shared object file");

        @Override
        public String name() {
            return "fake-native";
        }

        @Override
        public int autoPriority() {
            return 100;
        }

        @Override
        public boolean isAvailable() {
            return false;
        }

        @Override
        public Throwable unavailabilityCause() {
            return CAUSE;
        }

        @Override
        public BackendInstance start(final BackendSettings settings) {
            throw new IllegalStateException("unavailable");
        }
    }

    @Test
    void aShortNameSelectsThatBackend() {
        assertThat(BackendSelector.select("fake-ok")).isInstanceOf(Available.class);
        assertThat(BackendSelector.select(" FAKE-OK ")).isInstanceOf(Available.class);
    }

    @Test
    void aClassNameSelectsThatBackend() {
        assertThat(BackendSelector.select(Available.class.getName())).isInstanceOf(Available.class);
    }

    @Test
    void anUnknownValueFailsWithTheValidOnes() {
        assertThatThrownBy(() -> BackendSelector.select("carrier-pigeon"))
                .isInstanceOfSatisfying(BraidException.class, e -> {
                    assertThat(e.category()).isEqualTo(BraidException.Category.CONFIG);
                    assertThat(e.getMessage()).isEqualTo("unknown braid.backend 'carrier-pigeon'; valid values: auto, "
                            + "fake-native, fake-ok, or the class name of a dev.braid.spi.Backend");
                });
        assertThatThrownBy(() -> BackendSelector.select("com.example.NoSuchBackend"))
                .isInstanceOfSatisfying(BraidException.class, e -> {
                    assertThat(e.category()).isEqualTo(BraidException.Category.CONFIG);
                    assertThat(e.getMessage()).contains("'com.example.NoSuchBackend' is not a loadable dev.braid.spi.Backend")
                            .contains("valid values: auto, fake-native, fake-ok");
                });
    }

    @Test
    void anUnavailableBackendFailsNamingItsCauseAndTheOnesThatCanRun() {
        assertThatThrownBy(() -> BackendSelector.select("fake-native"))
                .isInstanceOfSatisfying(BraidException.class, e -> {
                    assertThat(e.category()).isEqualTo(BraidException.Category.BACKEND_UNAVAILABLE);
                    assertThat(e.getMessage()).isEqualTo("braid.backend 'fake-native' cannot run here: "
                            + "java.lang.UnsatisfiedLinkError: libfake.so: cannot open shared object file; "
                            + "backends that can run: fake-ok");
                    assertThat(e.getCause()).isSameAs(Unavailable.CAUSE);
                });
    }

    /**
     * The choice is logged at DEBUG on {@code dev.braid.backend}: silent at the default level (a command-line
     * run does not print it each time), one line when that logger is turned up.
     */
    @Test
    void autoFallsBackToTheBestAvailableAndSaysWhyInOneLine() {
        final Logger jul = Logger.getLogger("dev.braid");
        final Logger backendLog = Logger.getLogger("dev.braid.backend");
        final StringBuilder logged = new StringBuilder();
        final Handler h = new Handler() {
            @Override
            public void publish(final LogRecord r) {
                logged.append(r.getMessage()).append('\n');
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        jul.addHandler(h);
        try {
            assertThat(BackendSelector.select("auto")).isInstanceOf(Available.class);
            assertThat(logged).as("nothing at the default level").isEmpty();
            backendLog.setLevel(java.util.logging.Level.FINE);
            assertThat(BackendSelector.select("auto")).isInstanceOf(Available.class);
        } finally {
            backendLog.setLevel(null);
            jul.removeHandler(h);
        }
        assertThat(logged.toString()).isEqualTo("braid.backend=auto chose fake-ok (fake-native unavailable: "
                + "java.lang.UnsatisfiedLinkError: libfake.so: cannot open shared object file)\n");
    }
}
