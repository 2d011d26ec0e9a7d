package dev.braid.example;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;

import java.nio.charset.StandardCharsets;

/**
 * The small program ModulePathTest runs on the module path (as module dev.braid.example) and on the class
 * path: one echo call over loopback with the backend named by its argument, then one line saying what ran.
 */
public final class Echo {
    private Echo() {
    }

    public static void main(final String[] args) throws Exception {
        final Procedure echo = Procedure.of(0x20000001, 1, 1);
        try (Braid braid = Braid.create(new BraidConfig().backend(args[0]))) {
            final BraidServer server = braid.server().handle(echo, call -> call.reply(call.args())).bind(0);
            try (Connection c = braid.connect(server.address())) {
                final String answer = new String(c.call(echo, "hello".getBytes(StandardCharsets.UTF_8)),
                        StandardCharsets.UTF_8);
                final Module core = Braid.class.getModule();
                System.out.println("backend=" + braid.backendName() + " answer=" + answer
                        + " module=" + (core.isNamed() ? core.getName() : "unnamed")
                        + " api=" + core.isExported("dev.braid") + core.isExported("dev.braid.buffer")
                        + core.isExported("dev.braid.spi")
                        + " internals=" + (core.isExported("dev.braid.internal.engine")
                        || core.isExported("dev.braid.internal.wire") || core.isExported("dev.braid.internal.concurrent")));
            }
        }
    }
}
