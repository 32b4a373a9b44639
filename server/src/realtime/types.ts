import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from '../contracts/socket-events';

export type PgServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type PgSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export { userRoom } from '../contracts/socket-events';
