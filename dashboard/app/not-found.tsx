import Link from 'next/link';

export default function NotFound() {
  return (
    <main className="sign-in">
      <div className="sign-in-card">
        <h1>Not found</h1>
        <p className="muted">There is no such dashboard page.</p>
        <Link href="/" className="btn btn-primary">
          Go to the overview
        </Link>
      </div>
    </main>
  );
}
