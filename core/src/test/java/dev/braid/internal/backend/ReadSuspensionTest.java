package dev.braid.internal.backend;

import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The backends' reading switch on one thread (the backend tests and the transport suite run it across
 * threads): the last request wins, repeats change nothing, an "on" after an "off" owes one
 * {@code onInbound(0)} even when reading never actually stopped, and applies coalesce.
 */
class ReadSuspensionTest {
    private final List<String> log = new ArrayList<>();
    private ReadSuspension reads;
    private final ConnectionHandler handler = new ConnectionHandler() {
        @Override
        public void onOpen(final Transport transport) {
        }

        @Override
        public ByteBuffer inboundBuffer() {
            return ByteBuffer.allocate(0);
        }

        @Override
        public void onInbound(final int bytes) {
            log.add("onInbound(" + bytes + ")");
            if (suspendInResume) {
                suspendInResume = false;
                reads.suspendNow(); // the engine pauses again while decoding what it held
            }
        }

        @Override
        public void onInputClosed() {
        }

        @Override
        public int gatherOutbound(final ByteBuffer[] dst) {
            return 0;
        }

        @Override
        public void onOutboundWritten(final long bytes) {
        }

        @Override
        public void onClosed(final Throwable reason) {
        }
    };
    private boolean suspendInResume;

    ReadSuspensionTest() {
        reads = new ReadSuspension(handler, new ReadSuspension.Reads() {
            @Override
            public void stopReading() {
                log.add("stop");
            }

            @Override
            public void startReading() {
                log.add("start");
            }
        });
    }

    @Test
    void offThenOnStopsThenCallsOnInboundZeroBeforeReadingAgain() {
        assertThat(reads.request(true)).as("the first request schedules an apply").isTrue();
        assertThat(reads.request(true)).as("the same again is coalesced into it").isFalse();
        reads.apply();
        assertThat(reads.isSuspended()).isTrue();
        assertThat(reads.request(false)).isTrue();
        reads.apply();
        assertThat(log).containsExactly("stop", "onInbound(0)", "start");
        assertThat(reads.isSuspended()).isFalse();
    }

    @Test
    void anOffAndAnOnBeforeTheApplyStillOweTheResume() {
        reads.request(true);
        reads.request(false); // reading never stopped: the engine still paused its decoding
        reads.apply();
        assertThat(log).containsExactly("onInbound(0)", "start");
    }

    @Test
    void theLastRequestWinsAndAnOwedResumeWaitsForTheNextOn() {
        reads.request(true);
        reads.request(false);
        reads.request(true);
        reads.apply();
        assertThat(log).containsExactly("stop");
        reads.request(false);
        reads.apply();
        assertThat(log).containsExactly("stop", "onInbound(0)", "start");
        reads.request(false); // on again without an off (the engine never does it): one more harmless onInbound(0)
        reads.apply();
        assertThat(log).containsExactly("stop", "onInbound(0)", "start", "onInbound(0)", "start");
    }

    @Test
    void anOffOnTheReaderTakesEffectAtOnceAndOneDuringTheResumeKeepsReadingOff() {
        reads.suspendNow();
        assertThat(reads.isSuspended()).isTrue();
        assertThat(log).containsExactly("stop");
        suspendInResume = true;
        reads.request(false);
        reads.apply();
        assertThat(log).containsExactly("stop", "onInbound(0)", "stop");
        assertThat(reads.isSuspended()).as("the engine paused again while resuming").isTrue();
        assertThat(reads.isSuspendWanted()).isTrue();
    }

    @Test
    void aReaderOfItsOwnTakesTheOwedResumeOnce() {
        reads.request(true);
        assertThat(reads.isSuspendWanted()).isTrue();
        reads.request(false);
        assertThat(reads.isSuspendWanted()).isFalse();
        assertThat(reads.takeResumeOwed()).isTrue();
        assertThat(reads.takeResumeOwed()).isFalse();
    }
}
