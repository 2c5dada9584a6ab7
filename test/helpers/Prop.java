// Prop.java: parses each file named on the command line with the JDK's own
// java.util.Properties.load(InputStream) -- exactly what the Jitsi client does with a reply
// (jitsi-client-contract.md section 5.1) -- and prints every entry as UTF-16 code units in hex,
// so that the test can compare strings exactly (lone surrogates included).
// Run with: java Prop.java FILE...   (single-file source launch, JDK 11+)
import java.io.FileInputStream;
import java.io.InputStream;
import java.util.Map;
import java.util.Properties;

public class Prop {
    static String hex(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) b.append(String.format("%04x", (int) s.charAt(i)));
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        for (String f : args) {
            System.out.println("=== " + f);
            Properties p = new Properties();
            try (InputStream in = new FileInputStream(f)) {
                p.load(in);
            } catch (IllegalArgumentException e) {
                System.out.println("ERROR " + e.getMessage());
                continue;
            }
            for (Map.Entry<Object, Object> e : p.entrySet()) {
                System.out.println(hex((String) e.getKey()) + " " + hex((String) e.getValue()));
            }
        }
    }
}
