package dev.braid.internal.observe;

import dev.braid.BraidObserver;
import dev.braid.BraidObserver.CallOutcome;
import dev.braid.BraidObserver.Side;
import dev.braid.ConnectionClosedException;
import dev.braid.Peer;
import dev.braid.Procedure;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The reader's pass: ends settled on the reader's thread during a pass are reported when it ends (one clock
 * read), the others at once, and the close stays the last event even when another thread reports it
 * during a pass.
 */
class ObservationTest {
    static final Procedure P = Procedure.of(0x51, 1, 1);

    /** Records events as strings, in order. */
    static final class Recorder implements BraidObserver {
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void callEnded(final Peer connection, final Side side, final Procedure procedure, final int serial,
                              final CallOutcome outcome, final long latencyNanos, final long requestBytes,
                              final long replyBytes) {
            assertThat(latencyNanos).isGreaterThanOrEqualTo(0);
            events.add("end " + serial + " " + outcome + " " + requestBytes + "/" + replyBytes);
        }

        @Override
        public void connectionClosed(final Peer connection, final Side side, final ConnectionClosedException reason) {
            events.add("closed " + reason.getMessage().replace("closed locally: ", ""));
        }
    }

    private static ConnectionClosedException closed(final String why) {
        return new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE, why, null);
    }

    @Test
    void endsOnTheReaderDuringAPassAreReportedWhenItEnds() {
        final Recorder r = new Recorder();
        final Observation obs = new Observation(r, null, Side.SERVER, Duration.ofSeconds(1));
        obs.readStarted(System.nanoTime());
        final long start = obs.callStartAtRead();
        assertThat(start).isNotZero();
        obs.callEnded(P, 1, CallOutcome.OK, start, 40, 50);
        obs.callEnded(P, 2, CallOutcome.ERROR, start, 41, 51);
        assertThat(r.events).isEmpty(); // deferred to the pass's end
        obs.readEnded();
        assertThat(r.events).containsExactly("end 1 OK 40/50", "end 2 ERROR 41/51");
        obs.callEnded(P, 3, CallOutcome.OK, obs.callStart(), 1, 2); // outside a pass: at once
        assertThat(r.events).hasSize(3).last().isEqualTo("end 3 OK 1/2");
    }

    @Test
    void moreEndsThanTheBufferHoldsAreAllReportedOnceInOrder() {
        final Recorder r = new Recorder();
        final Observation obs = new Observation(r, null, Side.SERVER, Duration.ofSeconds(1));
        obs.readStarted(System.nanoTime());
        for (int i = 0; i < 100; i++) {
            obs.callEnded(P, i, CallOutcome.OK, obs.callStartAtRead(), i, i);
        }
        obs.readEnded();
        assertThat(r.events).hasSize(100);
        assertThat(r.events.stream().map(e -> Integer.parseInt(e.split(" ")[1])).sorted().toList())
                .isEqualTo(java.util.stream.IntStream.range(0, 100).boxed().toList());
    }

    @Test
    void anotherThreadsEndIsReportedAtOnce() throws Exception {
        final Recorder r = new Recorder();
        final Observation obs = new Observation(r, null, Side.CLIENT, Duration.ofSeconds(1));
        obs.readStarted(System.nanoTime());
        final Thread t = new Thread(() -> obs.callEnded(P, 7, CallOutcome.TIMEOUT, obs.callStart(), 1, 0));
        t.start();
        t.join();
        assertThat(r.events).containsExactly("end 7 TIMEOUT 1/0");
        obs.readEnded();
        assertThat(r.events).hasSize(1);
    }

    @Test
    void aCloseFromAnotherThreadDuringAPassComesAfterThePassesEnds() throws Exception {
        final Recorder r = new Recorder();
        final Observation obs = new Observation(r, null, Side.SERVER, Duration.ofSeconds(1));
        obs.readStarted(System.nanoTime());
        obs.callEnded(P, 1, CallOutcome.OK, obs.callStartAtRead(), 1, 1);
        final Thread t = new Thread(() -> obs.connectionClosed(closed("by another thread")));
        t.start();
        t.join();
        assertThat(r.events).isEmpty(); // the reader reports the close after what it deferred
        obs.readEnded();
        assertThat(r.events).containsExactly("end 1 OK 1/1", "closed by another thread");
        obs.readStarted(System.nanoTime()); // a pass after the close defers nothing
        obs.callEnded(P, 2, CallOutcome.CLOSED, obs.callStartAtRead(), 1, 0);
        assertThat(r.events).hasSize(3);
        obs.readEnded();
        assertThat(r.events).hasSize(3);
    }

    @Test
    void aCloseOnTheReaderDuringAPassFlushesFirst() {
        final Recorder r = new Recorder();
        final Observation obs = new Observation(r, null, Side.SERVER, Duration.ofSeconds(1));
        obs.readStarted(System.nanoTime());
        obs.callEnded(P, 1, CallOutcome.OK, obs.callStartAtRead(), 1, 1);
        obs.connectionClosed(closed("protocol error"));
        assertThat(r.events).containsExactly("end 1 OK 1/1", "closed protocol error");
        obs.readEnded();
        assertThat(r.events).hasSize(2);
    }

    @Test
    void aCloseFromAnotherThreadBetweenPassesIsReportedAtOnceAndLaterPassesDeferNothing() throws Exception {
        final Recorder r = new Recorder();
        final Observation obs = new Observation(r, null, Side.SERVER, Duration.ofSeconds(1));
        final Thread t = new Thread(() -> obs.connectionClosed(closed("idle")));
        t.start();
        t.join();
        assertThat(r.events).containsExactly("closed idle");
        obs.readStarted(System.nanoTime());
        obs.callEnded(P, 1, CallOutcome.CLOSED, obs.callStartAtRead(), 1, 0);
        assertThat(r.events).hasSize(2);
        obs.readEnded();
        assertThat(r.events).hasSize(2);
    }

    @Test
    void withoutAnObserverNothingIsTimedOrDeferred() {
        final Observation obs = new Observation(null, null, Side.SERVER, Duration.ofSeconds(1));
        obs.readStarted(System.nanoTime());
        assertThat(obs.callStart()).isZero();
        assertThat(obs.callStartAtRead()).isZero();
        obs.readEnded();
        obs.connectionClosed(closed("x"));
    }
}
