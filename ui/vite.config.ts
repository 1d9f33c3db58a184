import { defineConfig } from "vite";

// The page is served by Tauri from ui/dist; a strict CSP means no inline scripts or styles,
// which Vite's production build already honours (module files only).
export default defineConfig({
  clearScreen: false,
  build: {
    target: "es2021",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // Two pages: the popover and the Settings window.
    rollupOptions: { input: { main: "index.html", settings: "settings.html" } },
  },
  server: { port: 1420, strictPort: true },
});
