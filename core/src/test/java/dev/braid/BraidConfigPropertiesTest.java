package dev.braid;

import dev.braid.spi.SystemProperties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A {@code braid.*} property with a bad value is an error naming the property, the value and what it takes. */
class BraidConfigPropertiesTest {
    private final List<String> set = new ArrayList<>();

    private void property(final String name, final String value) {
        System.setProperty(name, value);
        set.add(name);
    }

    @AfterEach
    void clear() {
        set.forEach(System::clearProperty);
    }

    @Test
    void aWordForANumberFails() {
        property("braid.ioThreads", "four");
        assertThatThrownBy(BraidConfig::new).isInstanceOfSatisfying(BraidException.class,
                        e -> assertThat(e.category()).isEqualTo(BraidException.Category.CONFIG))
                .hasMessage("system property braid.ioThreads is 'four': it takes an integer from 1 to 1024 "
                        + "(unset, it is " + Math.min(Runtime.getRuntime().availableProcessors(), 1024) + ")");
    }

    @Test
    void aNumberForABooleanFails() {
        property("braid.extensions", "1");
        assertThatThrownBy(BraidConfig::new).isInstanceOf(BraidException.class)
                .hasMessage("system property braid.extensions is '1': it takes true or false (unset, it is true)");
    }

    @Test
    void negativeOrFractionalMillisFail() {
        property("braid.callTimeoutMillis", "-5");
        assertThatThrownBy(BraidConfig::new).hasMessage("system property braid.callTimeoutMillis is '-5': it takes "
                + "a whole number of milliseconds, 0 or more (unset, it is 0)");
        property("braid.callTimeoutMillis", "1.5");
        assertThatThrownBy(BraidConfig::new).hasMessageContaining("braid.callTimeoutMillis is '1.5'");
    }

    @Test
    void aBlankBackendFails() {
        property("braid.backend", " ");
        assertThatThrownBy(BraidConfig::new).hasMessage("system property braid.backend is ' ': it takes auto, nio, "
                + "epoll, loom or the class name of a dev.braid.spi.Backend (unset, it is auto)");
    }

    @Test
    void anIntegerOutOfRangeFailsTheSameWayAsAnIntegerFromASetter() {
        property("braid.ioThreads", "0");
        assertThatThrownBy(BraidConfig::new).isInstanceOf(BraidException.class).hasMessage(
                "system property braid.ioThreads is '0': it takes an integer from 1 to 1024 (unset, it is "
                        + Math.min(Runtime.getRuntime().availableProcessors(), 1024) + ")");
        clear();
        property("braid.maxMessageSize", "100");
        assertThatThrownBy(BraidConfig::new).hasMessageStartingWith("system property braid.maxMessageSize is '100'"
                + ": it takes an integer from 284 to 1073741824");
        clear();
        assertThatThrownBy(() -> new BraidConfig().ioThreads(0).conclude()).hasMessage("ioThreads = 0 is out of range [1, 1024]");
    }

    @Test
    void goodValuesAreRead() {
        property("braid.ioThreads", " 3 ");
        property("braid.extensions", "FALSE");
        property("braid.keepaliveIntervalMillis", "250");
        property("braid.backend", "loom");
        property("braid.maxQueuedEventBytes", "4096");
        final BraidConfig c = new BraidConfig().conclude();
        assertThat(c.ioThreads()).isEqualTo(3);
        assertThat(c.extensions()).isFalse();
        assertThat(c.keepaliveInterval()).isEqualTo(Duration.ofMillis(250));
        assertThat(c.backend()).isEqualTo("loom");
        assertThat(c.maxQueuedEventBytes()).isEqualTo(4096);
    }

    @Test
    void unsetMeansTheDefault() {
        final BraidConfig c = new BraidConfig();
        assertThat(c.ioThreads()).isEqualTo(Math.min(Runtime.getRuntime().availableProcessors(), 1024)); // issue 14 §3
        assertThat(c.callbackExecutor()).isNull(); // braid's own: a virtual thread per callback
        assertThat(c.extensions()).isTrue();
        assertThat(c.backend()).isEqualTo("auto");
    }

    /** Issue 11 §3, rapid stream open/abort: the limit on a peer's stream aborts, its window, 0 = off. */
    @Test
    void thePeerStreamAbortLimitIsValidatedAndReadFromItsProperties() {
        final BraidConfig d = new BraidConfig().conclude();
        assertThat(d.maxPeerStreamAbortsPerWindow()).isEqualTo(200);
        assertThat(d.peerStreamAbortWindow()).isEqualTo(Duration.ofSeconds(30));
        assertThat(new BraidConfig().maxPeerStreamAbortsPerWindow(0).conclude().maxPeerStreamAbortsPerWindow())
                .as("0 turns it off").isZero();
        assertThatThrownBy(() -> new BraidConfig().maxPeerStreamAbortsPerWindow(-1).conclude())
                .isInstanceOf(BraidException.class)
                .hasMessage("maxPeerStreamAbortsPerWindow = -1 is out of range [0, 2147483647]");
        assertThatThrownBy(() -> new BraidConfig().peerStreamAbortWindow(Duration.ZERO).conclude())
                .hasMessage("peerStreamAbortWindow = PT0S must be > 0");
        assertThatThrownBy(() -> new BraidConfig().peerStreamAbortWindow(null).conclude())
                .hasMessage("peerStreamAbortWindow = null must be > 0");
        property("braid.maxPeerStreamAbortsPerWindow", "1000");
        property("braid.peerStreamAbortWindowMillis", "5000");
        final BraidConfig c = new BraidConfig().conclude();
        assertThat(c.maxPeerStreamAbortsPerWindow()).isEqualTo(1000);
        assertThat(c.peerStreamAbortWindow()).isEqualTo(Duration.ofSeconds(5));
        property("braid.maxPeerStreamAbortsPerWindow", "-3");
        assertThatThrownBy(BraidConfig::new).hasMessage("system property braid.maxPeerStreamAbortsPerWindow is '-3': "
                + "it takes an integer, 0 or more (unset, it is 200)");
    }

    /** Issue 11, open/abort by back-pressure: the stream-open rate, its default and range, 0 = off. */
    @Test
    void theStreamOpenRateIsValidatedAndReadFromItsProperty() {
        assertThat(new BraidConfig().conclude().maxStreamOpensPerSecond()).isEqualTo(1000);
        assertThat(new BraidConfig().maxStreamOpensPerSecond(0).conclude().maxStreamOpensPerSecond())
                .as("0 turns it off").isZero();
        assertThatThrownBy(() -> new BraidConfig().maxStreamOpensPerSecond(-1).conclude())
                .isInstanceOf(BraidException.class)
                .hasMessage("maxStreamOpensPerSecond = -1 is out of range [0, 1000000000]");
        assertThatThrownBy(() -> new BraidConfig().maxStreamOpensPerSecond(1_000_000_001).conclude())
                .hasMessage("maxStreamOpensPerSecond = 1000000001 is out of range [0, 1000000000]");
        property("braid.maxStreamOpensPerSecond", "50");
        assertThat(new BraidConfig().conclude().maxStreamOpensPerSecond()).isEqualTo(50);
        property("braid.maxStreamOpensPerSecond", "fast");
        assertThatThrownBy(BraidConfig::new).hasMessageStartingWith(
                "system property braid.maxStreamOpensPerSecond is 'fast'");
    }

    @Test
    void backendsReadTheirOwnPropertiesTheSameWay() {
        property("braid.test.window", "70000");
        assertThatThrownBy(() -> SystemProperties.intValue("braid.test.window", 4096, 0, 65_536))
                .hasMessage("system property braid.test.window is '70000': it takes an integer from 0 to 65536 "
                        + "(unset, it is 4096)");
        property("braid.test.window", "1k");
        assertThatThrownBy(() -> SystemProperties.longValue("braid.test.window", 4096, 0, Long.MAX_VALUE))
                .hasMessage("system property braid.test.window is '1k': it takes an integer, 0 or more "
                        + "(unset, it is 4096)");
        assertThat(SystemProperties.intValue("braid.test.unset", 7, 0, 10)).isEqualTo(7);
    }
}
