package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.Reply;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class CallsTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x1234, 1, 1);

    @Test
    void echoesAPayload() throws Exception {
        final BraidServer server = server(s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThat(new String(c.call(ECHO, "hello".getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8))
                .isEqualTo("hello");
        try (Reply r = c.callAsync(ECHO, new byte[0]).get()) {
            assertThat(r.payload().remaining()).isZero();
        }
        assertThat(c.extensionsNegotiated()).isTrue();
    }
}
