// Stub page: a rehearsal builds nothing.
export default function Home() {
  return null;
}
