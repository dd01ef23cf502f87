// One REST call with a bearer token whose answer must be a success: for suites that set up rules, channels and silences through the API.

/** Sends `method path` (JSON `body` if given) to `base` with `token`; resolves with the JSON answer, rejects naming the status and body otherwise. */
export async function restJson<T>(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as T;
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}
