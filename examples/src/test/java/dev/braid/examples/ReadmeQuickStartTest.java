package dev.braid.examples;

import dev.braid.Braid;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.StreamOptions;
import dev.braid.xdr.XdrCodec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;

/** The README's quick start as written there (a temporary directory, a 10 MiB hole for 10 GiB), so that it keeps compiling and working. */
class ReadmeQuickStartTest {
    static final ProcedureDescriptor<String, String> GREET =
            ProcedureDescriptor.of(Procedure.of(0x20000001, 1, 1), XdrCodec.STRING, XdrCodec.STRING);
    static final ProcedureDescriptor<String, String> UPLOAD =
            ProcedureDescriptor.of(Procedure.of(0x20000001, 1, 2), XdrCodec.STRING, XdrCodec.STRING);

    @Test
    void quickStart() throws Exception {
        try (Braid braid = Braid.create()) {
            BraidServer server = braid.server()
                    .handle(GREET, (name, call) -> "Hello, " + name)
                    .bind(0);
            try (Connection c = braid.connect(server.address())) {
                String answer = c.call(GREET, "braid");
                assertThat(answer).isEqualTo("Hello, braid");
                assertThat(c.callAsync(GREET, "async", CallOptions.DEFAULT).get(30, TimeUnit.SECONDS))
                        .isEqualTo("Hello, async");
            }
        }
    }

    @Test
    void streams(@TempDir final Path dir) throws Exception {
        final byte[] bytes = new byte[1_000_000];
        new java.util.Random(1).nextBytes(bytes);
        try (Braid braid = Braid.create()) {
            BraidServer server = braid.server()
                    .stream(UPLOAD, (name, call, stream) -> {
                        call.reply(UPLOAD.reply(), "storing " + name);
                        try (var out = FileChannel.open(dir.resolve(name), CREATE, WRITE)) {
                            long n = 0;
                            for (var b = ByteBuffer.allocate(65536); stream.read(b.clear()) >= 0; ) {
                                n += out.write(b.flip());
                            }
                            stream.finish(XdrCodec.HYPER, n);
                        }
                    })
                    .bind(0);
            try (Connection connection = braid.connect(server.address())) {
                BraidStream s = connection.openStream(UPLOAD, "big.iso", StreamOptions.DEFAULT);
                String note = s.openingReply(UPLOAD.reply());
                s.write(ByteBuffer.wrap(bytes));
                s.sendHole(10L << 20);
                long stored = s.finish(XdrCodec.HYPER);
                assertThat(note).isEqualTo("storing big.iso");
                assertThat(stored).isEqualTo(bytes.length + (10L << 20));
                assertThat(Files.size(dir.resolve("big.iso"))).isEqualTo(stored);
            }
        }
    }
}
