package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.IncomingCall;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.StreamOptions;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.Await;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * braid's flight-recorder events for the rare and the slow are recorded: a slow call, a refused limit, an
 * aborted stream, a read suspension, a protocol error and the abnormal close it causes; on every pairing.
 */
class JfrEventsTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x5252, 1, 1);
    static final Procedure HELD = Procedure.of(0x5252, 1, 2);
    static final Procedure UPLOAD = Procedure.of(0x5252, 1, 10);
    static final Procedure TICK = Procedure.of(0x5252, 1, 20);
    static final List<String> EVENTS = List.of("dev.braid.SlowCall", "dev.braid.LimitRefused",
            "dev.braid.StreamAborted", "dev.braid.ReadSuspended", "dev.braid.ProtocolError",
            "dev.braid.ConnectionClosedAbnormally");

    @TempDir
    Path dir;

    @Test
    void rareAndSlowThingsAreRecorded() throws Exception {
        final BlockingQueue<IncomingCall> held = new LinkedBlockingQueue<>();
        final List<RecordedEvent> events;
        try (Recording recording = new Recording()) {
            EVENTS.forEach(e -> recording.enable(e).withoutStackTrace());
            recording.start();
            // A threshold of 1 ns makes every call slow: the event does not depend on how fast the machine is.
            final BraidServer server = server(config(true).maxMessageSize(64 * 1024).maxOutstandingCalls(1)
                    .slowCallThreshold(Duration.ofNanos(1)).keepaliveInterval(Duration.ZERO), s -> s
                    .handle(ECHO, call -> call.reply(call.args()))
                    .handle(HELD, call -> {
                        call.deferReply();
                        held.add(call);
                    }, HandlerMode.NON_BLOCKING)
                    .stream(UPLOAD, (call, stream) -> {
                        call.reply(new byte[0]);
                        final ByteBuffer b = ByteBuffer.allocate(4096);
                        while (stream.read(b.clear()) >= 0) {
                            // discard until the client's abort fails the read
                        }
                        stream.finish();
                    }));
            final Connection c = connect(config(false).slowCallThreshold(Duration.ofNanos(1)), server);
            c.call(ECHO, new byte[8]);
            assertThatThrownBy(() -> c.sendEvent(TICK, ByteBuffer.allocate(100_000)))
                    .isInstanceOf(LimitExceededException.class);
            final BraidStream up = c.openStream(UPLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
            up.write(ByteBuffer.allocate(1000));
            up.abort("the test aborts it");
            Await.until("the server's side of the stream ended", () -> server.connections().get(0).stats().streamsOpen() == 0,
                    () -> server.connections().get(0).stats());
            try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
                final DataOutputStream out = new DataOutputStream(raw.getOutputStream());
                for (int serial = 1; serial <= 2; serial++) { // two calls against a limit of one: reading stops
                    out.write(ScriptedServer.frame(HELD.program(), 1, HELD.procedure(), FrameHeader.TYPE_CALL,
                            serial, FrameHeader.STATUS_OK, new byte[0]).array());
                }
                out.flush();
                final IncomingCall first = held.poll(10, TimeUnit.SECONDS);
                Await.until("the server stopped reading the raw client", () -> server.connections().stream()
                        .anyMatch(p -> p.stats().readSuspensions() > 0), server::connections);
                first.reply(new byte[0]); // reading resumes: the suspension is recorded
                held.poll(10, TimeUnit.SECONDS).reply(new byte[0]);
                assertThat(server.connections()).hasSize(2);
                out.writeInt(3); // a frame shorter than its header: a protocol error
                out.write(new byte[FrameHeader.HEADER_LENGTH - 4]);
                out.flush();
                Await.until("the raw connection is closed", () -> server.connections().size() == 1,
                        server::connections);
            }
            recording.stop();
            final Path file = dir.resolve("braid.jfr");
            recording.dump(file);
            events = RecordingFile.readAllEvents(file);
        }
        final Map<String, List<RecordedEvent>> byName = events.stream()
                .collect(Collectors.groupingBy(e -> e.getEventType().getName()));
        assertThat(byName.keySet()).containsAll(EVENTS);
        assertThat(byName.get("dev.braid.SlowCall")).anySatisfy(e -> {
            assertThat(e.getString("procedure")).isEqualTo(ECHO.toString());
            assertThat(e.getString("side")).isEqualTo("CLIENT");
            assertThat(e.getString("outcome")).isEqualTo("OK");
            assertThat(e.getLong("latency")).isGreaterThanOrEqualTo(e.getLong("threshold"));
        });
        assertThat(byName.get("dev.braid.SlowCall")).anySatisfy(e ->
                assertThat(e.getString("side")).isEqualTo("SERVER"));
        assertThat(byName.get("dev.braid.LimitRefused")).anySatisfy(e -> {
            assertThat(e.getString("limit")).isEqualTo("maxMessageSize");
            assertThat(e.getLong("value")).isEqualTo(64 * 1024);
        });
        assertThat(byName.get("dev.braid.StreamAborted")).anySatisfy(e -> {
            assertThat(e.getString("side")).isEqualTo("CLIENT");
            assertThat(e.getLong("bytesSent")).isEqualTo(1000);
            assertThat(e.getString("reason")).contains("the test aborts it");
            assertThat(e.getLong("lifetime")).isNotNegative();
        });
        assertThat(byName.get("dev.braid.StreamAborted")).anySatisfy(e ->
                assertThat(e.getString("side")).isEqualTo("SERVER"));
        assertThat(byName.get("dev.braid.ReadSuspended")).anySatisfy(e -> {
            assertThat(e.getString("reason")).isEqualTo("CALL_LIMIT");
            assertThat(e.getLong("suspended")).isNotNegative();
        });
        assertThat(byName.get("dev.braid.ProtocolError")).anySatisfy(e ->
                assertThat(e.getString("side")).isEqualTo("SERVER"));
        assertThat(byName.get("dev.braid.ConnectionClosedAbnormally")).anySatisfy(e ->
                assertThat(e.getString("reason")).isEqualTo("PROTOCOL_ERROR"));
    }
}
